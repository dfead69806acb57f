package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"
)

// The agent's configuration file (--config): TOML, one flat table whose
// keys are the agent's flag names without the dashes, and whose values
// are what the flag takes:
//
//	name = "n1"
//	data-dir = "/var/lib/dynago"
//	http = "0.0.0.0:8080"
//	advertise = "10.0.0.1"
//	join = ["10.0.0.2:7946", "10.0.0.3:7946"]
//	n = 3
//	sync = true
//	timeout = "5s"
//
// Sizes and counts are integers, durations strings ("5s", "3h"), switches
// booleans, --join an array of strings (or one string of commas). A flag
// given on the command line or through its DYNAGO_* variable wins over
// the file, and the file over the flag's default. A key that names no
// flag, a value of the wrong type and one the flag can't parse are bad
// usage (exit 2) that names the key.

// configOnlyFlags are agent flags the file can't set: they say where the
// file is and what to do with it.
var configOnlyFlags = map[string]bool{"config": true, "print-config": true, "help": true}

// secretFlags hold secrets themselves (not a path to one): print-config
// never prints their values.
var secretFlags = map[string]bool{"gossip-key": true}

// maxConfigBytes bounds the file read: a configuration is a few KB, and
// a path to something else (a log, a device) must not eat the memory.
const maxConfigBytes = 1 << 20

// loadConfigFile applies --config's file to the flags that neither the
// command line nor the environment set.
func loadConfigFile(c *cli.Context) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return usagef(c, "--config: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return usagef(c, "--config: %v", err)
	}
	if len(b) > maxConfigBytes {
		return usagef(c, "--config %s: larger than %d bytes", path, maxConfigBytes)
	}
	settings, err := parseConfig(b, agentFlags(c))
	if err != nil {
		return usagef(c, "--config %s: %v", path, err)
	}
	for _, s := range settings {
		if c.IsSet(s.flag) { // the command line or DYNAGO_* wins
			continue
		}
		for _, v := range s.values {
			if err := c.Set(s.flag, v); err != nil {
				return usagef(c, "--config %s: key %q: invalid value %q: %v", path, s.flag, v, err)
			}
		}
	}
	return nil
}

// setting is one key of the file as the flag's text values (several for
// a list flag), in the file's order.
type setting struct {
	flag   string
	values []string
}

// parseConfig decodes a configuration file against the agent's flags (by
// name): every key must name one, with a value of its kind. It checks
// types, not values: the flag parses them (loadConfigFile).
func parseConfig(b []byte, flags map[string]cli.Flag) ([]setting, error) {
	var raw map[string]any
	md, err := toml.Decode(string(b), &raw)
	if err != nil {
		return nil, err
	}
	var out []setting
	for _, k := range md.Keys() {
		if len(k) != 1 {
			continue // inside a table: reported with the table's key
		}
		key := k[0]
		f, ok := flags[key]
		if !ok || configOnlyFlags[key] {
			return nil, fmt.Errorf("unknown key %q (keys are the agent's flag names, e.g. data-dir; see dynago agent --help)", key)
		}
		vals, err := flagValues(f, raw[key])
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", key, err)
		}
		out = append(out, setting{flag: key, values: vals})
	}
	return out, nil
}

// flagValues turns a decoded TOML value into the text f parses.
func flagValues(f cli.Flag, v any) ([]string, error) {
	switch f.(type) {
	case *cli.StringSliceFlag:
		switch v := v.(type) {
		case string:
			return []string{v}, nil
		case []any:
			out := make([]string, 0, len(v))
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("want an array of strings, got an element %v (%T)", e, e)
				}
				out = append(out, s)
			}
			return out, nil
		}
		return nil, fmt.Errorf("want an array of strings, got %v (%T)", v, v)
	case *cli.BoolFlag:
		if b, ok := v.(bool); ok {
			return []string{strconv.FormatBool(b)}, nil
		}
		return nil, fmt.Errorf("want true or false, got %v (%T)", v, v)
	case *cli.IntFlag, *cli.Int64Flag:
		if n, ok := v.(int64); ok {
			return []string{strconv.FormatInt(n, 10)}, nil
		}
		return nil, fmt.Errorf("want an integer, got %v (%T)", v, v)
	case *cli.DurationFlag:
		if s, ok := v.(string); ok {
			return []string{s}, nil
		}
		return nil, fmt.Errorf(`want a duration string such as "5s", got %v (%T)`, v, v)
	default: // strings
		if s, ok := v.(string); ok {
			return []string{s}, nil
		}
		return nil, fmt.Errorf("want a string, got %v (%T)", v, v)
	}
}

// agentFlags are c's command's flags by name.
func agentFlags(c *cli.Context) map[string]cli.Flag {
	out := map[string]cli.Flag{}
	for _, f := range c.Command.Flags {
		out[f.Names()[0]] = f
	}
	return out
}

// printConfig writes the effective configuration as a file --config
// reads back: every visible flag but the file's own, in --help's order,
// each under its usage, secrets commented out with their values redacted.
func printConfig(c *cli.Context, w io.Writer) error {
	var buf bytes.Buffer
	buf.WriteString("# dynago agent configuration (dynago agent --print-config)\n")
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if configOnlyFlags[name] {
			continue
		}
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		if df, ok := f.(cli.DocGenerationFlag); ok {
			if u := strings.ReplaceAll(df.GetUsage(), "`", ""); u != "" {
				buf.WriteString("\n# " + strings.ReplaceAll(u, "\n", "\n# ") + "\n")
			}
		}
		v := flagValue(c, f)
		if secretFlags[name] && v != "" {
			fmt.Fprintf(&buf, "# %s = \"(redacted; set)\"\n", name)
			continue
		}
		line, err := tomlLine(name, v)
		if err != nil {
			return err
		}
		buf.WriteString(line)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// flagValue is f's effective value as TOML encodes it: a string, an
// int64, a bool or a []string.
func flagValue(c *cli.Context, f cli.Flag) any {
	name := f.Names()[0]
	switch f.(type) {
	case *cli.StringSliceFlag:
		v := c.StringSlice(name)
		if v == nil {
			v = []string{}
		}
		return v
	case *cli.BoolFlag:
		return c.Bool(name)
	case *cli.IntFlag:
		return int64(c.Int(name))
	case *cli.Int64Flag:
		return c.Int64(name)
	case *cli.DurationFlag:
		return formatDuration(c.Duration(name))
	default:
		return c.String(name)
	}
}

// formatDuration is d as time.ParseDuration reads it back, without the
// zero units time.Duration.String adds ("3h" rather than "3h0m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// tomlLine encodes one key = value line.
func tomlLine(key string, v any) (string, error) {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(map[string]any{key: v}); err != nil {
		return "", fmt.Errorf("print-config: %s: %w", key, err)
	}
	return b.String(), nil
}
