package auth_test

import (
	"errors"
	"fmt"

	"provisioning/auth"
	"provisioning/workflow"
)

// A request to create a user is checked before anything is claimed or
// hashed; every bad field is named.
func ExampleCreateUserRequest_User() {
	_, err := auth.CreateUserRequest{Username: "-root", Email: "root at example", Password: "root"}.User("01ARZ3NDEKTSV4RRFFQ69G5FAV")
	var invalid *workflow.ValidationError
	if errors.As(err, &invalid) {
		for _, f := range invalid.Fields {
			fmt.Printf("%s: %s\n", f.Field, f.Message)
		}
	}
	// Output:
	// username: must be 2 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit
	// email: must be a plain address like name@example.com
	// password: must be at least 12 characters long
}

// A refusal answers to its kind and keeps the sentence its caller is
// told; a taken username is also ErrTaken.
func ExampleRefusal() {
	var err error = &auth.Refusal{Kind: auth.ErrUsernameTaken, Message: "username already taken by another user"}
	fmt.Println(errors.Is(err, auth.ErrUsernameTaken), errors.Is(err, auth.ErrTaken), errors.Is(err, auth.ErrLastAdmin))
	fmt.Println(err)
	// Output:
	// true true false
	// username already taken by another user
}
