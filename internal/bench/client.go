package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// conn is one keep-alive HTTP/1.1 client connection. It is deliberately
// small, like the clients of wrk or h2load: it writes a request built by
// the caller and reads the status and the body length, without
// allocating, so that the load generator takes as little of the machine's
// CPU from the server as it can. A connection the server closes is
// re-dialled on the next request.
type conn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
	body []byte // the last response body, when keepBody is set
	keep bool
}

func newConn(addr string) *conn { return &conn{addr: addr} }

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// do sends req and returns the response status. On a transport error the
// connection is closed, to be dialled again next time.
func (c *conn) do(req []byte) (int, error) {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, err
		}
		c.c = nc
		if c.r == nil {
			c.r = bufio.NewReaderSize(nc, 16<<10)
		} else {
			c.r.Reset(nc)
		}
	}
	c.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.c.Write(req); err != nil {
		c.close()
		return 0, err
	}
	status, err := c.read()
	if err != nil {
		c.close()
		return 0, err
	}
	return status, nil
}

var errBadResponse = errors.New("bench: malformed HTTP response")

// read reads one response: status line, headers, and a body framed by
// Content-Length or chunked encoding.
func (c *conn) read() (int, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, errBadResponse
	}
	status, err := atoi(line[9:12])
	if err != nil {
		return 0, errBadResponse
	}
	length, chunked, closing := -1, false, false
	for {
		line, err = c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, errBadResponse
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = atoi(value); err != nil {
				return 0, errBadResponse
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	c.body = c.body[:0]
	switch {
	case chunked:
		if err := c.readChunked(); err != nil {
			return 0, err
		}
	case length >= 0:
		if err := c.readN(length); err != nil {
			return 0, err
		}
	default:
		return 0, errBadResponse // Sapient always frames its responses
	}
	if closing {
		c.close()
	}
	return status, nil
}

func (c *conn) readN(n int) error {
	if !c.keep {
		_, err := c.r.Discard(n)
		return err
	}
	start := len(c.body)
	c.body = append(c.body, make([]byte, n)...)
	_, err := io.ReadFull(c.r, c.body[start:])
	return err
}

func (c *conn) readChunked() error {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimSpace(line)
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(line), 16, 32)
		if err != nil || n < 0 {
			return errBadResponse
		}
		if n == 0 {
			for { // trailers, then the blank line
				line, err := c.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(line) <= 2 {
					return nil
				}
			}
		}
		if err := c.readN(int(n)); err != nil {
			return err
		}
		if _, err := c.r.Discard(2); err != nil {
			return err
		}
	}
}

func atoi(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 9 {
		return 0, errBadResponse
	}
	n := 0
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, errBadResponse
		}
		n = n*10 + int(ch-'0')
	}
	return n, nil
}

// get sends one request and returns the status and a copy of the body;
// for setup, not for the timed loop.
func get(addr string, req []byte) (int, []byte, error) {
	c := newConn(addr)
	c.keep = true
	defer c.close()
	status, err := c.do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("bench: request to %s: %w", addr, err)
	}
	return status, bytes.Clone(c.body), nil
}
