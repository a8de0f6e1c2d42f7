package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/config"
)

const userUsage = `Usage:
  sensorhub user add NAME --role admin|operator|viewer [--customers a,b]   the password is read on standard input
  sensorhub user passwd NAME                                            the new password on standard input
  sensorhub user del NAME                                               also revokes the user's tokens
  sensorhub user list
  sensorhub token add (--user NAME | --ingest CUSTOMER) [--note TEXT]   prints the token once
  sensorhub token revoke ID
  sensorhub token list
Each takes --file USERS_FILE, or --config FILE to use its auth.users_file. A running
sensorhub reads the file again within a second of a change.
`

// usersFile reads the users file that the --file or --config flag names,
// and the configured customers.
func usersFile(fs *flag.FlagSet, args []string) (f *auth.File, path string, customers []string, rest []string, err error) {
	file := fs.String("file", "", "users file")
	cfgPath := fs.String("config", "", "configuration whose auth.users_file to use")
	// Flags may come before or after the name.
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, "", nil, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	path = *file
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return nil, "", nil, nil, err
		}
		customers = withCatalogCustomers(cfg)
		if path == "" {
			path = cfg.Auth.UsersFile
		}
		if path == "" {
			// The file sensorhub config prints has none: say what to add.
			return nil, "", nil, nil, fmt.Errorf("%s has no auth.users_file: add one under its auth: key, such as\n  auth:\n    users_file: /etc/sensorhub/users.yaml\n"+
				"(the file is created by the first user add), or give the users file with --file", *cfgPath)
		}
	}
	if path == "" {
		return nil, "", nil, nil, errors.New("give the users file with --file, or a configuration with auth.users_file with --config")
	}
	f, err = auth.LoadFile(path)
	return f, path, customers, pos, err
}

func readPassword(in io.Reader) (string, error) {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func cmdUser(args []string, in io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stderr, userUsage)
		return flag.ErrHelp
	}
	fs := newFlags("user "+args[0], stderr)
	role := fs.String("role", auth.RoleViewer, "admin, operator or viewer")
	customersFlag := fs.String("customers", "", "for a viewer: the customers it may see, separated by commas")
	f, path, customers, pos, err := usersFile(fs, args[1:])
	if err != nil {
		return err
	}
	name := ""
	if len(pos) > 0 {
		name = pos[0]
	}
	switch args[0] {
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tROLE\tCUSTOMERS")
		for _, u := range f.Users {
			c := strings.Join(u.Customers, ",")
			if u.Role != auth.RoleViewer {
				c = "all"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Username, u.Role, c)
		}
		return tw.Flush()
	case "add", "passwd", "del":
		if name == "" {
			return fmt.Errorf("user %s: give the user's name", args[0])
		}
	default:
		fmt.Fprint(stderr, userUsage)
		return fmt.Errorf("unknown user command %q", args[0])
	}
	u, exists := f.User(name)
	switch args[0] {
	case "add":
		if exists {
			return fmt.Errorf("user %s exists: change its password with sensorhub user passwd", name)
		}
		nu := auth.User{Username: name, Role: *role}
		if *customersFlag != "" {
			nu.Customers = strings.Split(*customersFlag, ",")
		}
		if err := setPassword(&nu, in); err != nil {
			return err
		}
		if customers == nil {
			customers = nu.Customers // without a configuration, the names are taken as given
		}
		if err := auth.CheckUser(&nu, customers); err != nil {
			return err
		}
		f.Users = append(f.Users, nu)
	case "passwd":
		if !exists {
			return fmt.Errorf("no user %s in %s", name, path)
		}
		if err := setPassword(u, in); err != nil {
			return err
		}
	case "del":
		if !exists {
			return fmt.Errorf("no user %s in %s", name, path)
		}
		f.Users = slices.DeleteFunc(f.Users, func(x auth.User) bool { return x.Username == name })
		f.Tokens = slices.DeleteFunc(f.Tokens, func(t auth.Token) bool { return t.User == name })
	}
	if err := f.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s: %s done in %s\n", name, args[0], path)
	return nil
}

func setPassword(u *auth.User, in io.Reader) error {
	pw, err := readPassword(in)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = auth.HashPassword(pw); err != nil {
		return fmt.Errorf("password on standard input: %w", err)
	}
	return nil
}

func cmdToken(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stderr, userUsage)
		return flag.ErrHelp
	}
	fs := newFlags("token "+args[0], stderr)
	user := fs.String("user", "", "the user the token acts as")
	ingest := fs.String("ingest", "", "a token that may only send messages of this customer")
	note := fs.String("note", "", "what the token is for")
	f, path, customers, pos, err := usersFile(fs, args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tACTS AS\tCREATED\tNOTE")
		for _, t := range f.Tokens {
			who := "user " + t.User
			if t.Customer != "" {
				who = "ingest for " + t.Customer
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, who, t.Created.Format(time.RFC3339), t.Note)
		}
		return tw.Flush()
	case "add":
		if (*user == "") == (*ingest == "") {
			return errors.New("token add: give --user NAME or --ingest CUSTOMER")
		}
		if *user != "" {
			if _, ok := f.User(*user); !ok {
				return fmt.Errorf("no user %s in %s", *user, path)
			}
		}
		if *ingest != "" && customers != nil && !slices.Contains(customers, *ingest) {
			return fmt.Errorf("%q is not one of the configured customers %v", *ingest, customers)
		}
		secret, t, err := auth.NewToken(*user, *ingest, *note, time.Now())
		if err != nil {
			return err
		}
		f.Tokens = append(f.Tokens, t)
		if err := f.Save(path); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "token %s added to %s; it is shown once, keep it:\n", t.ID, path)
		fmt.Fprintln(stdout, secret)
		return nil
	case "revoke":
		if len(pos) == 0 {
			return errors.New("token revoke: give the token's ID (sensorhub token list)")
		}
		n := len(f.Tokens)
		f.Tokens = slices.DeleteFunc(f.Tokens, func(t auth.Token) bool { return t.ID == pos[0] })
		if len(f.Tokens) == n {
			return fmt.Errorf("no token %s in %s", pos[0], path)
		}
		if err := f.Save(path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s revoked\n", pos[0])
		return nil
	}
	fmt.Fprint(stderr, userUsage)
	return fmt.Errorf("unknown token command %q", args[0])
}

// isHelp tells whether arg asks for help rather than naming a command.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// withCatalogCustomers are the configuration's customers and, when its
// store is there, the catalog's (those created in Settings).
func withCatalogCustomers(cfg *config.Config) []string {
	ctx := context.Background()
	st, err := openExisting(ctx, cfg, "user")
	if err != nil {
		return cfg.Customers
	}
	defer st.Close()
	p, err := (catalog.Base{Config: cfg}).Current(ctx, st, slog.New(slog.DiscardHandler))
	if err != nil {
		return cfg.Customers
	}
	return p.Config.Customers
}
