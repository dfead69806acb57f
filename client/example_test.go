package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"slices"

	"github.com/dynago/dynago/client"
)

// exampleNode starts a one-node cluster in this process for an example;
// a real program is given its nodes' addresses instead.
func exampleNode() (addr string, stop func()) {
	tn, err := startNode(nodeConfig("n1", 8, 1))
	if err != nil {
		log.Fatal(err)
	}
	return tn.url, tn.stop
}

// A read-modify-write: read the key and its causal context, write back
// with that context so the write supersedes what was read.
func Example() {
	addr, stop := exampleNode()
	defer stop()
	ctx := context.Background()

	c, err := client.New([]string{addr})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Put(ctx, "greeting", []byte("hello"), nil); err != nil {
		log.Fatal(err)
	}
	res, err := c.Get(ctx, "greeting", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", res.Siblings[0])

	// Context: the write replaces the value read instead of adding a
	// sibling next to it.
	if _, err := c.Put(ctx, "greeting", []byte("hello, world"), &client.WriteOptions{Context: res.Context}); err != nil {
		log.Fatal(err)
	}
	res, err = c.Get(ctx, "greeting", &client.ReadOptions{R: client.Quorum})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d value: %s\n", len(res.Siblings), res.Siblings[0])
	// Output:
	// hello
	// 1 value: hello, world
}

// Two writes that did not see each other (here: two blind writes) leave
// siblings; Update resolves them with the caller's function and writes the
// result back with the read's context.
func ExampleClient_Update() {
	addr, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	c, err := client.New([]string{addr})
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range []string{"apples", "pears"} {
		if _, err := c.Put(ctx, "basket", []byte(v), nil); err != nil {
			log.Fatal(err)
		}
	}
	res, err := c.Get(ctx, "basket", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("siblings:", len(res.Siblings))

	// union merges the siblings' comma-separated items.
	union := func(siblings [][]byte) ([]byte, error) {
		var items [][]byte
		for _, s := range siblings {
			for _, it := range bytes.Split(s, []byte(",")) {
				if !slices.ContainsFunc(items, func(x []byte) bool { return bytes.Equal(x, it) }) {
					items = append(items, it)
				}
			}
		}
		slices.SortFunc(items, bytes.Compare)
		return bytes.Join(items, []byte(",")), nil
	}
	if err := c.Update(ctx, "basket", union); err != nil {
		log.Fatal(err)
	}
	res, err = c.Get(ctx, "basket", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("siblings: %d, value: %s\n", len(res.Siblings), res.Siblings[0])
	// Output:
	// siblings: 2
	// siblings: 1, value: apples,pears
}

// A key with no live value is an error that matches ErrNotFound. After a
// delete, its context still covers the tombstone.
func ExampleClient_Get_notFound() {
	addr, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	c, err := client.New([]string{addr})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Get(ctx, "nothing", nil)
	fmt.Println(errors.Is(err, client.ErrNotFound))

	if _, err := c.Put(ctx, "gone", []byte("v"), nil); err != nil {
		log.Fatal(err)
	}
	res, err := c.Get(ctx, "gone", nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Delete(ctx, "gone", &client.WriteOptions{Context: res.Context}); err != nil {
		log.Fatal(err)
	}
	_, err = c.Get(ctx, "gone", nil)
	var e *client.Error
	fmt.Println(errors.Is(err, client.ErrNotFound), errors.As(err, &e) && e.Context != "")
	// Output:
	// true
	// true true
}

// Failures are typed: errors.Is tells what happened, errors.As gives
// everything the node said.
func ExampleError() {
	addr, stop := exampleNode()
	defer stop()
	c, err := client.New([]string{addr})
	if err != nil {
		log.Fatal(err)
	}
	// This one-node cluster has N=1: two acknowledgements can't be asked.
	_, err = c.Put(context.Background(), "k", []byte("v"), &client.WriteOptions{W: client.Replicas(2)})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code, errors.Is(err, client.ErrBadRequest))
	}
	// Output:
	// 400 bad_param true
}
