package outpost_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

// Todo is the record type of the collection examples: its fields map to
// the record's fields through their json tags.
type Todo struct {
	Title string `json:"title"`
	Done  bool   `json:"done"`
	Rank  int    `json:"rank"`
}

// exampleTodos opens alice's SDK against an in-process server, makes the
// channel "list:house" and returns its "todos" collection, with an index
// on "done" and on "rank".
func exampleTodos(ctx context.Context) (c *outpost.Client, todos *outpost.Collection[Todo], cleanup func()) {
	dir, _ := os.MkdirTemp("", "outpost-todos-")
	secret := []byte("example-secret")
	st, _ := sqlitestore.Open(ctx, filepath.Join(dir, "server.db"), nil)
	srv, _ := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler)})
	ts := httptest.NewServer(srv)
	tok, _ := token.Issue(secret, "alice", time.Hour)
	c, err := outpost.Open(ctx, outpost.Config{ServerURL: ts.URL, UserID: "alice", Token: tok,
		DBPath: filepath.Join(dir, "alice.db"), ConnectTimeout: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	if _, err := c.CreateChannel(ctx, outpost.NewChannel{Type: "list", ID: "house"}); err != nil {
		panic(err)
	}
	todos, err = outpost.OpenCollection[Todo](ctx, c, "todos", outpost.CollectionOptions{
		Indexes: []offlinedb.Index{{Field: "done", Type: "boolean"}, {Field: "rank", Type: "integer"}},
	})
	if err != nil {
		panic(err)
	}
	return c, todos, func() { c.Close(ctx); srv.Close(); ts.Close(); st.Close(); os.RemoveAll(dir) }
}

func ExampleOpenCollection() {
	ctx := context.Background()
	c, _, cleanup := exampleTodos(ctx)
	defer cleanup()

	// A collection of the app's records, typed, with the fields List
	// filters and sorts by indexed.
	todos, err := outpost.OpenCollection[Todo](ctx, c, "todos", outpost.CollectionOptions{
		Indexes: []offlinedb.Index{{Field: "done", Type: "boolean"}},
	})
	fmt.Println(todos.Name(), err)
	// Output: todos <nil>
}

func ExampleCollection_Create() {
	ctx := context.Background()
	c, todos, cleanup := exampleTodos(ctx)
	defer cleanup()

	w, err := todos.Create(ctx, "list:house", "t1", Todo{Title: "Buy milk"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The record is in the local store at once, pending until the server
	// has it.
	_ = c.SyncNow(ctx)
	it, _ := todos.Get(ctx, "list:house", w.Record.ID)
	fmt.Println(it.Value.Title, it.Pending, it.Version > 0)
	// Output: Buy milk 0 true
}

func ExampleCollection_Replace() {
	ctx := context.Background()
	c, todos, cleanup := exampleTodos(ctx)
	defer cleanup()

	_, _ = todos.Create(ctx, "list:house", "t1", Todo{Title: "Buy milk", Rank: 1})
	_ = c.SyncNow(ctx)
	// The whole field set, on the version this device holds.
	_, _ = todos.Replace(ctx, "list:house", "t1", Todo{Title: "Buy oat milk", Done: true})
	_ = c.SyncNow(ctx)
	it, _ := todos.Get(ctx, "list:house", "t1")
	fmt.Printf("%+v\n", it.Value)
	// Output: {Title:Buy oat milk Done:true Rank:0}
}

func ExampleCollection_Patch() {
	ctx := context.Background()
	c, todos, cleanup := exampleTodos(ctx)
	defer cleanup()

	_, _ = todos.Create(ctx, "list:house", "t1", Todo{Title: "Buy milk", Rank: 1})
	// Only "done" changes: a patch of another field by someone else
	// survives it.
	_, _ = todos.Patch(ctx, "list:house", "t1", outpost.Patch{Set: map[string]any{"done": true}})
	_ = c.SyncNow(ctx)
	it, _ := todos.Get(ctx, "list:house", "t1")
	fmt.Printf("%+v\n", it.Value)
	// Output: {Title:Buy milk Done:true Rank:1}
}

func ExampleCollection_Delete() {
	ctx := context.Background()
	c, todos, cleanup := exampleTodos(ctx)
	defer cleanup()

	_, _ = todos.Create(ctx, "list:house", "t1", Todo{Title: "Buy milk"})
	_ = c.SyncNow(ctx)
	_, _ = todos.Delete(ctx, "list:house", "t1")
	_ = c.SyncNow(ctx)
	it, _ := todos.Get(ctx, "list:house", "t1")
	fmt.Println(it.Deleted)
	// Output: true
}

func ExampleCollection_Get() {
	ctx := context.Background()
	_, todos, cleanup := exampleTodos(ctx)
	defer cleanup()

	_, _ = todos.Create(ctx, "list:house", "t1", Todo{Title: "Buy milk"})
	it, err := todos.Get(ctx, "list:house", "t1")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Pending counts the record's writes the server has not answered;
	// Failed its refused ones (FailedTasks has them).
	fmt.Println(it.Value.Title, it.Pending+it.Failed > 0 || it.Version > 0)
	// Output: Buy milk true
}

func ExampleCollection_List() {
	ctx := context.Background()
	_, todos, cleanup := exampleTodos(ctx)
	defer cleanup()

	for i, title := range []string{"milk", "bread", "eggs", "tea"} {
		_, _ = todos.Create(ctx, "list:house", fmt.Sprint("t", i), Todo{Title: title, Rank: 10 - i, Done: i == 2})
	}
	// Open tasks by rank, two a page.
	q := outpost.ListQuery{Where: []offlinedb.FieldFilter{{Field: "done", Value: false}}, OrderBy: "rank", Limit: 2}
	for {
		items, next, err := todos.List(ctx, q)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, it := range items {
			fmt.Println(it.Value.Rank, it.Value.Title)
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	// Output:
	// 7 tea
	// 9 bread
	// 10 milk
}
