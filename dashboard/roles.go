package dashboard

import (
	"io"
	"log/slog"

	"provisioning/auth"
)

// noPolicies is a policy view without a policy: the evaluator then answers
// with the built-in roles alone.
type noPolicies struct{}

func (noPolicies) All() ([]auth.Policy, uint64) { return nil, 0 }
func (noPolicies) Generation() uint64           { return 0 }

// BuiltinGrants lists, for each built-in role, the "kind:action" pairs it
// grants, as the policy evaluator decides them with no policy stored. The
// page offers a user what one of their roles grants; policies may allow
// more or deny some of it, which the APIs enforce (the page then shows
// their 403).
func BuiltinGrants() (map[string][]string, error) {
	ev, err := auth.NewEvaluator(noPolicies{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	grants := make(map[string][]string, len(auth.Roles))
	for _, role := range auth.Roles {
		list := []string{}
		for _, kind := range auth.Kinds {
			for _, action := range auth.Actions {
				in := auth.Input{
					User:     auth.User{ID: "dashboard", Username: "dashboard", Roles: []string{role}, Role: role},
					Request:  auth.Request{Action: action},
					Resource: auth.Resource{Kind: kind},
				}
				if ev.Decide(in).Allowed {
					list = append(list, kind+":"+action)
				}
			}
		}
		grants[role] = list
	}
	return grants, nil
}
