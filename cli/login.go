package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"provisioning/client"
)

func runLogin(a *app, args []string) error {
	fs := a.flags("login", "login [-u USERNAME] [--password-stdin] [--mfa | --mfa-code CODE]")
	username := fs.String("u", "", "username (PROVISIONING_USERNAME, config username; asked on a terminal)")
	fs.StringVar(username, "username", "", "username")
	fromStdin := fs.Bool("password-stdin", false, "read the password (and, with --mfa, the code on the next line) from stdin")
	askMFA := fs.Bool("mfa", false, "the account uses MFA: ask for the code (remembered after a login that needed one)")
	mfaCode := fs.String("mfa-code", "", "the current MFA code")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	in := &input{r: a.env.Stdin, errw: a.env.Stderr}
	user := first(*username, a.env.Getenv("PROVISIONING_USERNAME"), a.cfg.Username)
	var err error
	if user == "" {
		if !in.terminal() {
			return usagef("no username: pass -u USERNAME (stdin is not a terminal)")
		}
		if user, err = in.line("Username: "); err != nil {
			return err
		}
	}
	password, err := in.secret("Password: ", *fromStdin)
	if err != nil {
		return err
	}
	prev, _ := a.sessions().get(a.control)
	code := *mfaCode
	if code == "" && (*askMFA || prev.MFA && prev.User != nil && prev.User.Username == user) {
		if code, err = in.secret("MFA code: ", *fromStdin); err != nil {
			return err
		}
	}
	s, err := a.client.Login(a.ctx, client.LoginRequest{Username: user, Password: password, MFACode: code})
	if err != nil {
		return err
	}
	err = a.sessions().update(a.control, func(st *storedSession) {
		*st = storedSession{Session: *s, Server: a.server, MFA: code != ""}
	})
	if err != nil {
		return fmt.Errorf("logged in, but the token could not be stored: %w", err)
	}
	return a.printSession(*s)
}

func (a *app) printSession(s client.Session) error {
	view := sessionView{ControlServer: a.control, Server: a.server, ExpiresAt: s.ExpiresAt}
	if s.User != nil {
		view.User = *s.User
	}
	if a.out.json {
		return a.out.JSON(view)
	}
	fmt.Fprintf(a.env.Stdout, "Logged in to %s as %s (%s); the token expires at %s\n",
		a.control, view.User.Username, strings.Join(view.User.Roles, ", "), when(s.ExpiresAt))
	return nil
}

// sessionView is what login and whoami print: never the token.
type sessionView struct {
	User          client.SessionUser `json:"user"`
	ExpiresAt     time.Time          `json:"expires_at"`
	ControlServer string             `json:"control_server"`
	Server        string             `json:"server"`
	MFA           bool               `json:"mfa_enabled"`
}

func runLogout(a *app, args []string) error {
	fs := a.flags("logout", "logout")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	if a.client.Session().Token == "" {
		fmt.Fprintf(a.env.Stderr, "not logged in to %s\n", a.control)
		return nil
	}
	err := a.client.Logout(a.ctx)
	if rmErr := a.sessions().remove(a.control); rmErr != nil {
		return rmErr
	}
	if err != nil && !errors.Is(err, client.ErrUnauthorized) {
		return fmt.Errorf("the token was forgotten here, but the server did not revoke it: %w", err)
	}
	fmt.Fprintf(a.env.Stdout, "Logged out of %s\n", a.control)
	return nil
}

func runWhoami(a *app, args []string) error {
	fs := a.flags("whoami", "whoami")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	s := a.client.Session()
	if s.Token == "" {
		return &exitError{code: ExitAuth, err: fmt.Errorf("not logged in to %s: run 'provisioning login'", a.control)}
	}
	if !s.ExpiresAt.IsZero() && time.Now().After(s.ExpiresAt) {
		return &exitError{code: ExitAuth, err: fmt.Errorf("the session expired at %s: run 'provisioning login'", when(s.ExpiresAt))}
	}
	id := ""
	if s.User != nil {
		id = s.User.ID
	} else if sub, err := client.TokenSubject(s.Token); err == nil {
		id = sub
	}
	u, err := a.client.GetUser(a.ctx, id) // also proves the token still works
	if err != nil {
		return err
	}
	s = a.client.Session() // the call may have refreshed it
	view := sessionView{ControlServer: a.control, Server: a.server, ExpiresAt: s.ExpiresAt, MFA: u.MFAEnabled,
		User: client.SessionUser{ID: u.ID, Username: u.Username, Email: u.Email, Roles: u.Roles}}
	if a.out.json {
		return a.out.JSON(view)
	}
	a.out.fields([][2]string{
		{"User", u.Username}, {"ID", u.ID}, {"Email", orDash(u.Email)}, {"Roles", strings.Join(u.Roles, ", ")},
		{"MFA", fmt.Sprint(u.MFAEnabled)}, {"Expires", when(s.ExpiresAt)},
		{"Control", a.control}, {"Server", a.server},
	})
	return nil
}

// input reads answers from stdin: prompted without echo on a terminal,
// line by line otherwise.
type input struct {
	r    io.Reader
	errw io.Writer
	buf  *bufio.Reader
}

func (in *input) terminal() bool { return isTerminal(in.r) }

// line prompts (on a terminal) and reads one line.
func (in *input) line(prompt string) (string, error) {
	if in.terminal() {
		fmt.Fprint(in.errw, prompt)
	}
	if in.buf == nil {
		in.buf = bufio.NewReader(in.r)
	}
	s, err := in.buf.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && s != "") {
		return "", fmt.Errorf("read %s: %w", strings.TrimSuffix(strings.ToLower(prompt), ": "), err)
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// secret reads a password or code: from a terminal without echo, or a
// line of stdin when fromStdin (stdin not being a terminal needs it).
func (in *input) secret(prompt string, fromStdin bool) (string, error) {
	if !fromStdin {
		f, ok := in.r.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", usagef("stdin is not a terminal: pass --password-stdin and pipe the password")
		}
		fmt.Fprint(in.errw, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(in.errw)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", strings.TrimSuffix(strings.ToLower(prompt), ": "), err)
		}
		return string(b), nil
	}
	s, err := in.line(prompt)
	if err == nil && s == "" {
		err = usagef("%s is empty", strings.TrimSuffix(strings.ToLower(prompt), ": "))
	}
	return s, err
}
