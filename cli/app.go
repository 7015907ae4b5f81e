package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"provisioning/client"
)

// Defaults of the server URLs.
const (
	DefaultServer        = "http://localhost:9090"
	DefaultControlServer = "http://localhost:9080"
)

// app is one run of a command: the environment, the options every
// command shares, and the client built from them.
type app struct {
	ctx  context.Context
	env  Env
	name string

	server, control string
	output          string
	noColor         bool

	cfg    fileConfig
	out    *printer
	client *client.Client
}

// flags returns a flag set for a (sub)command with the shared options.
func (a *app) flags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.server, "server", "", "orchestrator URL (PROVISIONING_SERVER, default "+DefaultServer+")")
	fs.StringVar(&a.control, "control-server", "", "control center URL (PROVISIONING_CONTROL_SERVER, default "+DefaultControlServer+")")
	fs.StringVar(&a.output, "o", "", "output: table or json (PROVISIONING_OUTPUT)")
	fs.StringVar(&a.output, "output", "", "output: table or json")
	fs.BoolVar(&a.noColor, "no-color", false, "never colour the output (also NO_COLOR)")
	fs.Usage = func() {
		fmt.Fprintf(a.env.Stderr, "Usage: provisioning %s\n\nFlags:\n", usage)
		fs.SetOutput(a.env.Stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses args, flags and positional arguments in any order, then
// resolves the shared options. want is the number of positional arguments
// (-1: any).
func (a *app) parse(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.Usage()
				return nil, &exitError{code: ExitOK}
			}
			fs.Usage()
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if want >= 0 && len(pos) != want {
		fs.Usage()
		return nil, usagef("%s takes %d argument(s), got %d", fs.Name(), want, len(pos))
	}
	return pos, a.setup()
}

// setup resolves URLs and output (flag > environment > config.toml >
// default) and builds the client with the stored session.
func (a *app) setup() error {
	cfg, err := loadConfig(a.configDir())
	if err != nil {
		return err
	}
	a.cfg = cfg
	a.server = first(a.server, a.env.Getenv("PROVISIONING_SERVER"), cfg.Server, DefaultServer)
	a.control = first(a.control, a.env.Getenv("PROVISIONING_CONTROL_SERVER"), cfg.ControlServer, DefaultControlServer)
	a.output = first(a.output, a.env.Getenv("PROVISIONING_OUTPUT"), cfg.Output, "table")
	if a.output != "table" && a.output != "json" {
		return usagef("-o must be table or json, not %q", a.output)
	}
	a.out = &printer{w: a.env.Stdout, json: a.output == "json", color: a.colour()}
	opts := []client.Option{client.WithUserAgent("provisioning-cli/1")}
	if a.env.HTTPClient != nil {
		opts = append(opts, client.WithHTTPClient(a.env.HTTPClient))
	}
	if token := a.env.Getenv("PROVISIONING_TOKEN"); token != "" {
		opts = append(opts, client.WithToken(token))
	} else if s, ok := a.sessions().get(a.control); ok {
		opts = append(opts, client.WithSession(s.Session), client.OnRefresh(a.saveRefreshed))
	}
	a.client, err = client.New(a.server, a.control, opts...)
	if err != nil {
		return usagef("%v", err)
	}
	return nil
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// colour is on for a terminal only, and never with NO_COLOR, TERM=dumb or
// --no-color.
func (a *app) colour() bool {
	if a.noColor || a.env.Getenv("NO_COLOR") != "" || a.env.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(a.env.Stdout)
}

func (a *app) configDir() string {
	return first(a.env.Getenv("PROVISIONING_CONFIG_DIR"), a.env.ConfigDir)
}

func (a *app) sessions() *sessionStore { return &sessionStore{dir: a.configDir()} }

// saveRefreshed stores a refreshed token in place of the old one.
func (a *app) saveRefreshed(s client.Session) {
	if err := a.sessions().update(a.control, func(st *storedSession) { st.Session = s }); err != nil {
		fmt.Fprintf(a.env.Stderr, "warning: the token was refreshed but could not be stored: %v\n", err)
	}
}

// report prints err on stderr and returns the exit code it means.
func (a *app) report(err error) int {
	if err == nil {
		return ExitOK
	}
	code := ExitFailed
	var exit *exitError
	var apiErr *client.Error
	var netErr net.Error
	switch {
	case errors.As(err, &exit):
		code = exit.code
		if exit.err == nil || code == ExitOK {
			return code
		}
		if errors.As(exit.err, &apiErr) {
			a.printAPIError(apiErr)
			return code
		}
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &apiErr):
		code = statusExit(apiErr.StatusCode)
		a.printAPIError(apiErr)
		return code
	case errors.As(err, &netErr):
		code = ExitUnavailable
	}
	fmt.Fprintf(a.env.Stderr, "error: %v\n", err)
	return code
}

// statusExit maps an HTTP status to an exit code.
func statusExit(status int) int {
	switch {
	case status == http.StatusNotFound:
		return ExitNotFound
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ExitAuth
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge, status == http.StatusUnprocessableEntity:
		return ExitInvalid
	case status == http.StatusConflict:
		return ExitConflict
	case status == http.StatusTooManyRequests, status >= 500:
		return ExitUnavailable
	}
	return ExitFailed
}

func (a *app) printAPIError(e *client.Error) {
	w := a.env.Stderr
	fmt.Fprintf(w, "error: %s (HTTP %d)\n", e.Message, e.StatusCode)
	for _, f := range e.Fields {
		fmt.Fprintf(w, "  %s: %s\n", f.Field, f.Message)
	}
	switch {
	case e.StatusCode == http.StatusUnauthorized && e.Path == "/auth/login":
		fmt.Fprintln(w, "hint: if the account uses MFA, add --mfa (or --mfa-code CODE)")
	case e.StatusCode == http.StatusUnauthorized:
		fmt.Fprintf(w, "hint: sign in with 'provisioning login --control-server %s'\n", a.control)
	case e.RetryAfter > 0:
		fmt.Fprintf(w, "hint: retry after %s\n", e.RetryAfter.Round(time.Second))
	case e.StatusCode >= 500 && e.RequestID != "":
		fmt.Fprintf(w, "request id: %s\n", e.RequestID)
	}
}

// subcommand dispatches args[0] to one of subs.
func (a *app) subcommand(group string, args []string, subs map[string]func(*app, []string) error) error {
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(a.env.Stderr, "Usage: provisioning %s %s\n", group, strings.Join(sortStrings(names), "|"))
		if len(args) == 0 {
			return exitCode(ExitUsage)
		}
		return nil
	}
	run, ok := subs[args[0]]
	if !ok {
		return usagef("unknown command %q: provisioning %s %s", args[0], group, strings.Join(sortStrings(names), "|"))
	}
	return run(a, args[1:])
}

// apiMessage is the server's message of an API error, else the error.
func apiMessage(err error) string {
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		return apiErr.Message
	}
	return err.Error()
}
