package controlcenter

import (
	"bytes"
	"errors"
	"net/http"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/handlers"
)

// login checks the credentials and issues a token. Every outcome is
// audited: a refusal with its reason (never told to the client).
func (c *API) login(w http.ResponseWriter, r *http.Request) error {
	var req auth.LoginRequest
	if err := handlers.DecodeJSON(r, &req); err != nil {
		return err
	}
	session, err := c.Identity.Login(r.Context(), caller(r), req)
	var refused *auth.LoginRefused
	if err != nil && !errors.As(err, &refused) {
		return err
	}
	if recErr := c.Access.Record(r, loginRecord(req, session, refused)); recErr != nil {
		return recErr
	}
	if refused != nil {
		return err
	}
	return handlers.WriteJSON(w, http.StatusOK, session)
}

// loginRecord is the audit record of a login: refused, with the reason,
// or a session.
func loginRecord(req auth.LoginRequest, session auth.Session, refused *auth.LoginRefused) events.AuditRecordedData {
	rec := events.AuditRecordedData{Action: "auth.login", Resource: "auth", Details: map[string]any{"username": req.Username}}
	if refused != nil {
		rec.UserID, rec.Result, rec.Details["reason"] = refused.UserID, events.AuditFailure, refused.Reason
		return rec
	}
	rec.UserID, rec.Result, rec.Resource, rec.Details["token_id"] = session.User.ID, events.AuditSuccess, "users/"+session.User.ID, session.TokenID
	return rec
}

// RefreshRequest is the body of POST /auth/refresh. Token defaults to the
// caller's own.
type RefreshRequest struct {
	Token string `json:"token"`
}

// refresh returns a new token for the caller and revokes the old one.
func (c *API) refresh(w http.ResponseWriter, r *http.Request) error {
	p, _ := handlers.PrincipalFrom(r.Context())
	var req RefreshRequest
	body, err := handlers.ReadBody(r)
	if err == nil && len(bytes.TrimSpace(body)) > 0 {
		err = handlers.DecodeBody(body, &req)
	}
	if err != nil {
		return err
	}
	session, revoked, err := c.Identity.Refresh(r.Context(), caller(r), p, req.Token)
	if err != nil {
		return err
	}
	handlers.NoteResource(r, "users/"+p.UserID)
	handlers.NoteDetail(r, "revoked_token_id", revoked)
	handlers.NoteDetail(r, "token_id", session.TokenID)
	return handlers.WriteJSON(w, http.StatusOK, session)
}

// logout revokes the caller's token.
func (c *API) logout(w http.ResponseWriter, r *http.Request) error {
	p, _ := handlers.PrincipalFrom(r.Context())
	if err := c.Identity.Logout(r.Context(), p); err != nil {
		return err
	}
	handlers.NoteResource(r, "users/"+p.UserID)
	handlers.NoteDetail(r, "token_id", p.TokenID)
	return handlers.WriteJSON(w, http.StatusOK, "Successfully logged out")
}
