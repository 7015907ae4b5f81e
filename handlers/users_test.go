package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestUsersLifecycle(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	res := in.cc.Do(t, "POST", "/users", map[string]any{"username": "newuser", "email": "newuser@example.com",
		"password": "secure_password", "roles": []string{"operator"}, "enabled": true})
	wantStatus(t, res, 201, `"username":"newuser"`)
	var created map[string]any
	res.Decode(t, &created)
	id, _ := created["id"].(string)
	if id == "" || created["email"] != "newuser@example.com" || created["enabled"] != true || fmt.Sprint(created["roles"]) != "[operator]" || len(created) != 5 {
		t.Fatalf("create answer %s", res.Data)
	}
	got := in.cc.Do(t, "GET", "/users/"+id, nil)
	wantStatus(t, got, 200, `"last_login":null`)
	for _, secret := range []string{"password", "hash", "argon2", "secret"} {
		if strings.Contains(strings.ToLower(string(got.Raw)+string(in.cc.Do(t, "GET", "/users", nil).Raw)), secret) {
			t.Fatalf("a user view shows %q: %s", secret, got.Raw)
		}
	}

	wantStatus(t, in.cc.Do(t, "PUT", "/users/"+id, map[string]any{"email": "updated@example.com", "roles": []string{"admin", "operator"}, "enabled": false}),
		200, `"User updated successfully"`)
	got = in.cc.Do(t, "GET", "/users/"+id, nil)
	wantStatus(t, got, 200, `"email":"updated@example.com","roles":["admin","operator"],"enabled":false`)
	// The old email is free again; the new one is taken.
	wantStatus(t, in.cc.Do(t, "POST", "/users", map[string]any{"username": "reuser", "email": "newuser@example.com", "password": userPassword}), 201, "")
	wantStatus(t, in.cc.Do(t, "POST", "/users", map[string]any{"username": "other", "email": "UPDATED@example.com", "password": userPassword}), 409, "email")

	wantStatus(t, in.cc.Do(t, "DELETE", "/users/"+id, nil), 200, `"User deleted successfully"`)
	wantStatus(t, in.cc.Do(t, "GET", "/users/"+id, nil), 404, "not found")
	wantStatus(t, in.cc.Do(t, "DELETE", "/users/"+id, nil), 404, "not found")
	wantStatus(t, in.cc.Do(t, "PUT", "/users/"+id, map[string]any{"enabled": true}), 404, "not found")
	// A deleted user's names can be used again.
	wantStatus(t, in.cc.Do(t, "POST", "/users", map[string]any{"username": "NewUser", "email": "updated@example.com", "password": userPassword}), 201, "")
}

func TestUserValidation(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	in.createUser(t, "taken")
	ok := func(mod func(map[string]any)) map[string]any {
		b := map[string]any{"username": "fresh", "email": "fresh@example.com", "password": userPassword, "roles": []string{"viewer"}}
		mod(b)
		return b
	}
	cases := []struct {
		name    string
		body    any
		status  int
		mention string
	}{
		{"username taken", ok(func(b map[string]any) { b["username"] = "taken" }), 409, "username already taken"},
		{"username taken, other case", ok(func(b map[string]any) { b["username"] = "TAKEN" }), 409, "username"},
		{"email taken", ok(func(b map[string]any) { b["email"] = "taken@example.com" }), 409, "email"},
		{"short password", ok(func(b map[string]any) { b["password"] = "short" }), 422, "at least 12 characters"},
		{"password is the username", ok(func(b map[string]any) { b["username"] = "averylongname"; b["password"] = "AveryLongName" }), 422, "username"},
		{"no password", ok(func(b map[string]any) { delete(b, "password") }), 422, "password"},
		{"bad username", ok(func(b map[string]any) { b["username"] = "-flag" }), 422, "username"},
		{"username too long", ok(func(b map[string]any) { b["username"] = strings.Repeat("u", 65) }), 422, "username"},
		{"bad email", ok(func(b map[string]any) { b["email"] = "Fresh <fresh@example.com>" }), 422, "email"},
		{"bad role", ok(func(b map[string]any) { b["roles"] = []string{"Admin"} }), 422, "roles[0]"},
		{"repeated role", ok(func(b map[string]any) { b["roles"] = []string{"viewer", "viewer"} }), 422, "roles[1]"},
		{"roles wrong type", ok(func(b map[string]any) { b["roles"] = "viewer" }), 422, "roles"},
		{"enabled wrong type", ok(func(b map[string]any) { b["enabled"] = "yes" }), 422, "enabled"},
		{"unknown field", ok(func(b map[string]any) { b["password_hash"] = "x" }), 422, "password_hash"},
		{"malformed", `{"username":`, 400, "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, in.cc.Do(t, "POST", "/users", tc.body), tc.status, tc.mention)
		})
	}
	if n := in.cc.Do(t, "GET", "/users", nil).Header.Get("X-Total-Count"); n != "2" {
		t.Fatalf("%s users after refused creations, want 2", n)
	}
}

func TestUserListFilters(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	for i := range 3 {
		in.createUser(t, fmt.Sprintf("op%d", i), "operator")
	}
	id := in.createUser(t, "idle", "viewer")
	in.cc.Do(t, "PUT", "/users/"+id, map[string]any{"enabled": false})
	for _, tc := range []struct {
		query string
		total string
	}{
		{"", "5"}, {"?role=operator", "3"}, {"?role=admin", "1"}, {"?enabled=false", "1"}, {"?enabled=true&role=viewer", "0"},
	} {
		res := in.cc.Do(t, "GET", "/users"+tc.query, nil)
		if res.Status != 200 || res.Header.Get("X-Total-Count") != tc.total {
			t.Errorf("GET /users%s: %d total %s, want %s", tc.query, res.Status, res.Header.Get("X-Total-Count"), tc.total)
		}
	}
	page := in.cc.Do(t, "GET", "/users?role=operator&limit=2", nil)
	if link := page.Header.Get("Link"); !strings.Contains(link, "role=operator") || !strings.Contains(link, `rel="next"`) {
		t.Fatalf("Link %q", link)
	}
	for _, q := range []string{"?enabled=maybe", "?limit=0"} {
		wantStatus(t, in.cc.Do(t, "GET", "/users"+q, nil), 400, "")
	}
}

// Many creations of one username at once: exactly one succeeds.
func TestConcurrentCreatesOfOneUsername(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	const n = 6
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := in.cc.Do(t, "POST", "/users", map[string]any{"username": "racer", "email": fmt.Sprintf("r%d@example.com", i), "password": userPassword})
			statuses[i] = res.Status
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
		default:
			t.Fatalf("statuses %v", statuses)
		}
	}
	if created != 1 {
		t.Fatalf("statuses %v: %d created, want 1", statuses, created)
	}
}

func TestTheLastAdminStays(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	users := in.cc.Do(t, "GET", "/users?role=admin", nil)
	var list []struct{ ID string }
	users.Decode(t, &list)
	admin := list[0].ID
	wantStatus(t, in.cc.Do(t, "DELETE", "/users/"+admin, nil), 409, "last enabled admin")
	wantStatus(t, in.cc.Do(t, "PUT", "/users/"+admin, map[string]any{"enabled": false}), 409, "last enabled admin")
	wantStatus(t, in.cc.Do(t, "PUT", "/users/"+admin, map[string]any{"roles": []string{"viewer"}}), 409, "last enabled admin")
	in.createUser(t, "second", "admin")
	wantStatus(t, in.cc.Do(t, "PUT", "/users/"+admin, map[string]any{"roles": []string{"viewer"}}), 200, "")
}

// A viewer reads itself but nobody else, and manages no one.
func TestUsersAreAdminBusiness(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	viewer := in.createUser(t, "vera", "viewer")
	other := in.createUser(t, "otto", "viewer")
	_, cc := in.as(in.login(t, "vera"))
	wantStatus(t, cc.Do(t, "GET", "/users/"+viewer, nil), 200, `"username":"vera"`)
	wantStatus(t, cc.Do(t, "GET", "/users/"+other, nil), 403, "permission denied")
	wantStatus(t, cc.Do(t, "GET", "/users", nil), 403, "")
	wantStatus(t, cc.Do(t, "POST", "/users", map[string]any{"username": "x1", "password": userPassword}), 403, "")
	wantStatus(t, cc.Do(t, "PUT", "/users/"+viewer, map[string]any{"roles": []string{"admin"}}), 403, "")
	wantStatus(t, cc.Do(t, "GET", "/audit/logs", nil), 403, "")
	wantStatus(t, cc.Do(t, "GET", "/policies", nil), 403, "")
}

// Every user may change their own password, proving the current one;
// the change ends the sessions issued before it. Another user's password
// is not theirs to change.
func TestUsersChangeTheirOwnPassword(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	id := in.createUser(t, "pat", "viewer")
	other := in.createUser(t, "quinn", "viewer")
	token := in.login(t, "pat")
	_, cc := in.as(token)
	const fresh = "a brand new passphrase"
	wantStatus(t, cc.Do(t, "PUT", "/users/"+id+"/password", map[string]any{"current_password": "not my password!", "password": fresh}), 422, "current_password")
	wantStatus(t, cc.Do(t, "PUT", "/users/"+id+"/password", map[string]any{"password": fresh}), 422, "current_password")
	wantStatus(t, cc.Do(t, "PUT", "/users/"+id+"/password", map[string]any{"current_password": userPassword, "password": "pat"}), 422, "password")
	wantStatus(t, cc.Do(t, "PUT", "/users/"+id+"/password", map[string]any{"current_password": userPassword, "password": "PAT@example.com"}), 422, "password")
	wantStatus(t, cc.Do(t, "PUT", "/users/"+other+"/password", map[string]any{"current_password": userPassword, "password": fresh}), 403, "permission denied")
	wantStatus(t, cc.Do(t, "PUT", "/users/"+id+"/password", map[string]any{"current_password": userPassword, "password": fresh}), 200, "Password changed")
	// The session that changed it ends with the others issued before.
	wantStatus(t, cc.Do(t, "GET", "/users/"+id, nil), 401, "")
	if res := in.anon().Do(t, "POST", "/auth/login", map[string]any{"username": "pat", "password": userPassword}); res.Status != 401 {
		t.Fatalf("the old password still logs in: %d", res.Status)
	}
	if res := in.anon().Do(t, "POST", "/auth/login", map[string]any{"username": "pat", "password": fresh}); res.Status != 200 {
		t.Fatalf("the new password does not log in: %d %s", res.Status, res.Raw)
	}
}

// A password that is the user's email is refused on every path, also
// when the email itself does not change.
func TestPasswordMayNotBeTheCurrentEmail(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	id := in.createUser(t, "rene", "viewer")
	wantStatus(t, in.cc.Do(t, "PUT", "/users/"+id, map[string]any{"password": "RENE@example.com"}), 422, "email")
}
