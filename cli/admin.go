package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"provisioning/client"
)

func runUsers(a *app, args []string) error {
	return a.subcommand("users", args, map[string]func(*app, []string) error{
		"ls":     runUsersList,
		"list":   runUsersList,
		"get":    runUsersGet,
		"create": runUsersCreate,
		"update": runUsersUpdate,
		"delete": runUsersDelete,
		"mfa":    runUsersMFA,
	})
}

// listFlag is a repeatable flag (--role admin --role operator, or
// --role admin,operator).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// optionalBool is a flag that may be left unset (--enabled=true|false).
type optionalBool struct{ v *bool }

func (b *optionalBool) String() string {
	if b.v == nil {
		return ""
	}
	return strconv.FormatBool(*b.v)
}
func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.v = &v
	return nil
}
func (b *optionalBool) IsBoolFlag() bool { return true }

func runUsersList(a *app, args []string) error {
	fs := a.flags("users ls", "users ls [--role ROLE] [--enabled=true|false] [--limit N] [--offset N] [--all]")
	var p pageFlags
	p.register(fs)
	role := fs.String("role", "", "only users with this role")
	var enabled optionalBool
	fs.Var(&enabled, "enabled", "only enabled (true) or disabled (false) users")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	users, err := collect(a, p, func(o client.ListOptions) (*client.Page[client.User], error) {
		return a.client.ListUsers(a.ctx, client.UserFilter{Role: *role, Enabled: enabled.v, ListOptions: o})
	})
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(nonNil(users))
	}
	rows := make([][]string, len(users))
	for i, u := range users {
		rows[i] = []string{u.ID, u.Username, orDash(u.Email), strings.Join(u.Roles, ","), fmt.Sprint(u.Enabled), fmt.Sprint(u.MFAEnabled), whenPtr(u.LastLogin)}
	}
	a.out.table([]string{"ID", "USERNAME", "EMAIL", "ROLES", "ENABLED", "MFA", "LAST LOGIN"}, rows)
	return nil
}

// userID accepts a user id or a username. The signed-in user is resolved
// from the session (a user who may not list users may still manage
// themself).
func (a *app) userID(ref string) (string, error) {
	if u := a.client.Session().User; u != nil && (u.ID == ref || strings.EqualFold(u.Username, ref)) {
		return u.ID, nil
	}
	if _, err := a.client.GetUser(a.ctx, ref); err == nil {
		return ref, nil
	} else if !errors.Is(err, client.ErrNotFound) {
		return "", err
	}
	for u, err := range a.client.Users(a.ctx, client.UserFilter{ListOptions: client.ListOptions{Limit: 1000}}) {
		if err != nil {
			return "", err
		}
		if strings.EqualFold(u.Username, ref) {
			return u.ID, nil
		}
	}
	return "", &exitError{code: ExitNotFound, err: fmt.Errorf("no user with id or username %q", ref)}
}

// userCommand parses the arguments of a command whose first argument
// names a user, by id or username, and resolves it to the user's id.
func (a *app) userCommand(name, usage string, args []string, n int) (id string, pos []string, err error) {
	pos, err = a.parse(a.flags(name, usage), args, n)
	if err != nil {
		return "", nil, err
	}
	id, err = a.userID(pos[0])
	return id, pos, err
}

func runUsersGet(a *app, args []string) error {
	id, _, err := a.userCommand("users get", "users get ID|USERNAME", args, 1)
	if err != nil {
		return err
	}
	u, err := a.client.GetUser(a.ctx, id)
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(u)
	}
	a.out.fields([][2]string{{"ID", u.ID}, {"Username", u.Username}, {"Email", orDash(u.Email)},
		{"Roles", strings.Join(u.Roles, ", ")}, {"Enabled", fmt.Sprint(u.Enabled)}, {"MFA", fmt.Sprint(u.MFAEnabled)},
		{"Created", when(u.CreatedAt)}, {"Last login", whenPtr(u.LastLogin)}})
	return nil
}

// newPassword reads a password for another account: from stdin with
// --password-stdin, else twice from the terminal.
func (a *app) newPassword(fromStdin bool) (string, error) {
	in := &input{r: a.env.Stdin, errw: a.env.Stderr}
	p, err := in.secret("New password: ", fromStdin)
	if err != nil || fromStdin {
		return p, err
	}
	again, err := in.secret("Repeat it: ", false)
	if err != nil {
		return "", err
	}
	if again != p {
		return "", usagef("the passwords differ")
	}
	return p, nil
}

func runUsersCreate(a *app, args []string) error {
	fs := a.flags("users create", "users create USERNAME [--email EMAIL] [--role ROLE]... [--disabled] [--password-stdin]")
	email := fs.String("email", "", "email address")
	var roles listFlag
	fs.Var(&roles, "role", "role (repeat, or comma-separated): admin, operator, viewer, ...")
	disabled := fs.Bool("disabled", false, "create the user disabled")
	fromStdin := fs.Bool("password-stdin", false, "read the password from stdin")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	password, err := a.newPassword(*fromStdin)
	if err != nil {
		return err
	}
	enabled := !*disabled
	u, err := a.client.CreateUser(a.ctx, client.CreateUserRequest{Username: pos[0], Email: *email, Password: password, Roles: roles, Enabled: &enabled})
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(u)
	}
	fmt.Fprintln(a.env.Stdout, u.ID)
	return nil
}

func runUsersUpdate(a *app, args []string) error {
	fs := a.flags("users update", "users update ID|USERNAME [--email EMAIL] [--role ROLE]... [--enabled=true|false] [--password-stdin]")
	var email stringFlag
	fs.Var(&email, "email", "new email address")
	var roles listFlag
	fs.Var(&roles, "role", "new roles (repeat, or comma-separated; replaces them all)")
	noRoles := fs.Bool("no-roles", false, "remove every role")
	var enabled optionalBool
	fs.Var(&enabled, "enabled", "enable (true) or disable (false)")
	fromStdin := fs.Bool("password-stdin", false, "set a new password read from stdin")
	newPassword := fs.Bool("password", false, "set a new password, asked on the terminal")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	req := client.UpdateUserRequest{Email: email.v, Enabled: enabled.v}
	if len(roles) > 0 || *noRoles {
		r := []string(roles)
		if r == nil {
			r = []string{}
		}
		req.Roles = &r
	}
	if *fromStdin || *newPassword {
		p, err := a.newPassword(*fromStdin)
		if err != nil {
			return err
		}
		req.Password = &p
	}
	if req == (client.UpdateUserRequest{}) {
		return usagef("nothing to change: give --email, --role, --enabled or a password")
	}
	id, err := a.userID(pos[0])
	if err != nil {
		return err
	}
	return a.message(a.client.UpdateUser(a.ctx, id, req))
}

// stringFlag is a string flag that knows whether it was set.
type stringFlag struct{ v *string }

func (s *stringFlag) String() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}
func (s *stringFlag) Set(v string) error { s.v = &v; return nil }

func runUsersDelete(a *app, args []string) error {
	id, _, err := a.userCommand("users delete", "users delete ID|USERNAME", args, 1)
	if err != nil {
		return err
	}
	return a.message(a.client.DeleteUser(a.ctx, id))
}

func runUsersMFA(a *app, args []string) error {
	return a.subcommand("users mfa", args, map[string]func(*app, []string) error{
		"enroll": func(a *app, args []string) error {
			id, pos, err := a.userCommand("users mfa enroll", "users mfa enroll ID|USERNAME", args, 1)
			if err != nil {
				return err
			}
			e, err := a.client.EnrollMFA(a.ctx, id)
			if err != nil {
				return err
			}
			if a.out.json {
				return a.out.JSON(e)
			}
			a.out.fields([][2]string{{"Secret", e.Secret}, {"URL", e.OTPAuthURL}})
			fmt.Fprintf(a.env.Stderr, "add it to an authenticator app, then: provisioning users mfa verify %s CODE\n", pos[0])
			return nil
		},
		"verify": func(a *app, args []string) error {
			id, pos, err := a.userCommand("users mfa verify", "users mfa verify ID|USERNAME CODE", args, 2)
			if err != nil {
				return err
			}
			return a.message(a.client.VerifyMFA(a.ctx, id, pos[1]))
		},
	})
}

// message prints the sentence a server answered.
func (a *app) message(msg string, err error) error {
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(map[string]string{"message": msg})
	}
	fmt.Fprintln(a.env.Stdout, msg)
	return nil
}

func runPolicies(a *app, args []string) error {
	return a.subcommand("policies", args, map[string]func(*app, []string) error{
		"ls":     runPoliciesList,
		"list":   runPoliciesList,
		"get":    runPoliciesGet,
		"create": func(a *app, args []string) error { return runPolicyWrite(a, args, false) },
		"update": func(a *app, args []string) error { return runPolicyWrite(a, args, true) },
		"delete": func(a *app, args []string) error {
			fs := a.flags("policies delete", "policies delete POLICY_ID")
			pos, err := a.parse(fs, args, 1)
			if err != nil {
				return err
			}
			return a.message(a.client.DeletePolicy(a.ctx, pos[0]))
		},
	})
}

func runPoliciesList(a *app, args []string) error {
	fs := a.flags("policies ls", "policies ls [--limit N] [--offset N] [--all]")
	var p pageFlags
	p.register(fs)
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	policies, err := collect(a, p, func(o client.ListOptions) (*client.Page[client.Policy], error) {
		return a.client.ListPolicies(a.ctx, o)
	})
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(nonNil(policies))
	}
	rows := make([][]string, len(policies))
	for i, p := range policies {
		rows[i] = []string{p.ID, p.Name, p.Version, fmt.Sprint(p.Enabled), fmt.Sprint(len(p.Rules)), when(p.CreatedAt)}
	}
	a.out.table([]string{"ID", "NAME", "VERSION", "ENABLED", "RULES", "CREATED"}, rows)
	return nil
}

func runPoliciesGet(a *app, args []string) error {
	fs := a.flags("policies get", "policies get POLICY_ID")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	p, err := a.client.GetPolicy(a.ctx, pos[0])
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(p)
	}
	a.out.fields([][2]string{{"ID", p.ID}, {"Name", p.Name}, {"Version", p.Version}, {"Enabled", fmt.Sprint(p.Enabled)},
		{"Description", orDash(p.Description)}, {"Created", when(p.CreatedAt)}})
	fmt.Fprintln(a.env.Stdout)
	rows := make([][]string, len(p.Rules))
	for i, r := range p.Rules {
		rows[i] = []string{r.Effect, r.Resource, strings.Join(r.Action, ","), orDash(r.Condition)}
	}
	a.out.table([]string{"EFFECT", "RESOURCE", "ACTIONS", "CONDITION"}, rows)
	return nil
}

// runPolicyWrite creates or updates a policy from a JSON or TOML file.
func runPolicyWrite(a *app, args []string, update bool) error {
	usage, want := "policies create -f policy.json|policy.toml", 0
	if update {
		usage, want = "policies update POLICY_ID -f policy.json|policy.toml", 1
	}
	fs := a.flags(strings.Join(strings.Fields(usage)[:2], " "), usage)
	file := fs.String("f", "", "the policy: {name, version, description, enabled, rules: [{effect, resource, action, condition}]}")
	pos, err := a.parse(fs, args, want)
	if err != nil {
		return err
	}
	if *file == "" {
		return usagef("-f FILE is required")
	}
	req, err := readPolicy(*file, a.env.Stdin)
	if err != nil {
		return err
	}
	if update {
		return a.message(a.client.UpdatePolicy(a.ctx, pos[0], req))
	}
	p, err := a.client.CreatePolicy(a.ctx, req)
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(p)
	}
	fmt.Fprintln(a.env.Stdout, p.ID)
	return nil
}

func readPolicy(path string, stdin io.Reader) (client.PolicyRequest, error) {
	var req client.PolicyRequest
	doc, name, err := readDocument(path, stdin, "policy")
	if err != nil {
		return req, err
	}
	if err := fromDocument(doc, &req); err != nil {
		return req, &exitError{code: ExitInvalid, err: fmt.Errorf("%s: %w", name, err)}
	}
	return req, nil
}

func runAudit(a *app, args []string) error {
	return a.subcommand("audit", args, map[string]func(*app, []string) error{
		"ls":   runAuditList,
		"list": runAuditList,
	})
}

func runAuditList(a *app, args []string) error {
	fs := a.flags("audit ls", "audit ls [--user ID] [--action A] [--resource R] [--result success|failure|denied] [--from T] [--to T] [--limit N] [--offset N] [--all]")
	var p pageFlags
	p.register(fs)
	var f client.AuditFilter
	fs.StringVar(&f.UserID, "user", "", "only this user id")
	fs.StringVar(&f.Action, "action", "", "only this action (server.create, auth.login, ...)")
	fs.StringVar(&f.Resource, "resource", "", "only this resource and what lies under it")
	fs.StringVar(&f.Result, "result", "", "success, failure or denied")
	from := timeFlag(fs, "from", "from this time (RFC 3339, or a duration ago such as 1h)")
	to := timeFlag(fs, "to", "until this time (RFC 3339, or a duration ago)")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	f.From, f.To = *from, *to
	recs, err := collect(a, p, func(o client.ListOptions) (*client.Page[client.AuditRecord], error) {
		f.ListOptions = o
		return a.client.AuditLogs(a.ctx, f)
	})
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(nonNil(recs))
	}
	rows := make([][]string, len(recs))
	for i, r := range recs {
		rows[i] = []string{when(r.Timestamp), orDash(r.UserID), r.Action, orDash(r.Resource), r.Result}
	}
	a.out.table([]string{"TIME", "USER", "ACTION", "RESOURCE", "RESULT"}, rows)
	return nil
}

// timeFlag registers a flag that takes RFC 3339 or a duration before now.
func timeFlag(fs *flag.FlagSet, name, usage string) *time.Time {
	t := new(time.Time)
	fs.Func(name, usage, func(v string) error {
		if d, err := time.ParseDuration(v); err == nil {
			*t = time.Now().Add(-d)
			return nil
		}
		parsed, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fmt.Errorf("want RFC 3339 (2025-09-26T10:00:00Z) or a duration (1h): %w", err)
		}
		*t = parsed
		return nil
	})
	return t
}
