package main

import (
	"errors"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/client"
)

// FuzzCheckDynago: whatever an --addr answers (status, body, report
// header), telling dynago from something else never panics; an answer
// with the report header, or with the contract's error body, is dynago's.
func FuzzCheckDynago(f *testing.F) {
	f.Add(404, []byte(`{"error":"not found","code":"not_found"}`), "")
	f.Add(404, []byte("<html>404</html>"), "")
	f.Add(200, []byte("hello"), "r=2 replies=2")
	f.Add(400, []byte("Client sent an HTTP request to an HTTPS server.\n"), "")
	f.Add(431, []byte("431 Request Header Fields Too Large"), "")
	f.Add(503, []byte(`{"error":null,"code":1}`), "")
	f.Add(0, []byte{}, "")
	f.Fuzz(func(t *testing.T, status int, body []byte, reportHdr string) {
		app := &cli.App{Flags: []cli.Flag{&cli.StringFlag{Name: "addr", Value: "http://x"}}}
		var errAsErr, errAsRes error
		app.Action = func(c *cli.Context) error {
			errAsErr = checkDynago(c, nil, &client.Error{Status: status, Body: body, Report: reportHdr})
			errAsRes = checkDynago(c, &client.Response{Status: status, Body: body, Report: reportHdr}, nil)
			return nil
		}
		if err := app.Run([]string{"x"}); err != nil {
			t.Fatal(err)
		}
		var nd *notDynago
		if reportHdr != "" && (errAsErr != nil || errAsRes != nil) {
			t.Fatalf("an answer with X-Dynago-Report taken for another server: %v %v", errAsErr, errAsRes)
		}
		if isErrorShape(body) && errAsErr != nil {
			t.Fatalf("the contract's error body taken for another server: %v", errAsErr)
		}
		if reportHdr == "" && !errors.As(errAsRes, &nd) {
			t.Fatalf("a success without X-Dynago-Report passed as dynago's")
		}
		if errAsErr != nil && len(errAsErr.Error()) > 1000 { // 80 bytes of body, quoted: at most 4x
			t.Fatalf("message of %d bytes: the body must be cut", len(errAsErr.Error()))
		}
	})
}
