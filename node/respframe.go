package node

import (
	"errors"
	"fmt"
	"net"
)

// respFramer follows the framing of a RESP client's byte stream as it
// arrives, before redcon's reader sees it, and refuses a command over the
// limits. redcon buffers a command whole whatever its size, loops over a
// multibulk count however large, and panics (in a goroutine of its own,
// taking the process down) on a bulk length near MaxInt; the framer
// bounds every number before redcon parses it. It checks only what those
// limits need: malformed input within them is left to redcon, which
// answers a protocol error and closes the connection.
//
// Not safe for concurrent use: one per connection, fed in stream order.
type respFramer struct {
	maxArgs   int64 // arguments of one command
	maxBulk   int64 // bytes of one argument
	maxInline int64 // bytes of an inline (telnet) command line
	maxCmd    int64 // bytes of one command, framing included

	state uint8
	num   int64 // the number being read
	nd    int   // its digits so far
	left  int64 // arguments left in the command
	skip  int64 // argument bytes and CRLF left to pass
	size  int64 // bytes of the current command so far
}

const (
	frameStart   = iota // the first byte of a command
	frameCount          // the digits after '*'
	frameBulkHdr        // '$' expected
	frameBulkLen        // the digits after '$'
	frameBulk           // an argument's bytes and its CRLF
	frameInline         // an inline command, up to '\n'
)

// respFrameError is a stream refused by the framer: Reply is the error
// reply sent before the connection is closed.
type respFrameError struct{ Reply string }

func (e *respFrameError) Error() string { return "node: resp: " + e.Reply }

// scan feeds p to the framer. It returns len(p) and nil, or the length
// of p's prefix that is within the limits and the error of the byte after
// it (the framer is then stuck on that error).
func (f *respFramer) scan(p []byte) (int, error) {
	i := 0
	for i < len(p) {
		if f.state == frameStart {
			f.size = 0
		}
		if f.state == frameBulk {
			// Pass an argument's bytes in one step.
			k := int64(len(p) - i)
			if k > f.skip {
				k = f.skip
			}
			f.skip -= k
			f.size += k
			i += int(k)
			if f.size > f.maxCmd {
				return i, f.fail("command of more than %d bytes", f.maxCmd)
			}
			if f.skip == 0 {
				f.left--
				f.state = frameBulkHdr
				if f.left == 0 {
					f.state = frameStart
				}
			}
			continue
		}
		c := p[i]
		f.size++
		if f.size > f.maxCmd {
			return i, f.fail("command of more than %d bytes", f.maxCmd)
		}
		switch f.state {
		case frameStart:
			if c == '*' {
				f.state, f.num, f.nd = frameCount, 0, 0
			} else {
				f.state = frameInline
				if c == '\n' {
					f.state = frameStart
				}
			}
		case frameInline:
			if c == '\n' {
				f.state = frameStart
			} else if f.size > f.maxInline {
				return i, f.fail("inline command of more than %d bytes", f.maxInline)
			}
		case frameCount, frameBulkLen:
			switch {
			case '0' <= c && c <= '9':
				f.num = f.num*10 + int64(c-'0')
				f.nd++
				if f.state == frameCount && f.num > f.maxArgs {
					return i, f.fail("command of more than %d arguments", f.maxArgs)
				}
				if f.state == frameBulkLen && f.num > f.maxBulk {
					return i, f.fail("argument of more than %d bytes", f.maxBulk)
				}
			case c == '\r':
			case c == '\n' && f.nd > 0:
				if f.state == frameCount {
					if f.num == 0 {
						return i, f.fail("invalid multibulk length")
					}
					f.left, f.state = f.num, frameBulkHdr
				} else {
					f.skip, f.state = f.num+2, frameBulk
				}
			default:
				if f.state == frameCount {
					return i, f.fail("invalid multibulk length")
				}
				return i, f.fail("invalid bulk length")
			}
		case frameBulkHdr:
			if c != '$' {
				return i, f.fail("expected '$', got '%c'", c)
			}
			f.state, f.num, f.nd = frameBulkLen, 0, 0
		}
		i++
	}
	return len(p), nil
}

func (f *respFramer) fail(format string, args ...any) error {
	return &respFrameError{Reply: "ERR Protocol error: " + fmt.Sprintf(format, args...) + "; closing the connection"}
}

// respGuardConn is a client connection whose reads pass through a
// respFramer: a read returns only bytes within the limits, and the read
// after a refused stream answers its error reply and fails, so redcon
// closes the connection after answering the commands before it.
type respGuardConn struct {
	net.Conn
	frame   respFramer
	err     error // the framer's, once refused
	refused func(err error)
}

func (c *respGuardConn) Read(p []byte) (int, error) {
	if c.err != nil {
		// redcon flushes its replies before it reads again, so this
		// reply follows those of every command before the bad one.
		var fe *respFrameError
		if c.refused != nil && errors.As(c.err, &fe) {
			_, _ = c.Conn.Write([]byte("-" + fe.Reply + "\r\n"))
			c.refused(c.err)
			c.refused = nil
		}
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	ok, ferr := c.frame.scan(p[:n])
	if ferr != nil {
		c.err = ferr
		if ok > 0 {
			return ok, nil
		}
		return c.Read(p)
	}
	return n, err
}
