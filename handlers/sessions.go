package handlers

import (
	"bytes"
	"errors"
	"net/http"

	"provisioning/auth"
	"provisioning/events"
)

// login checks the credentials and issues a token. Every outcome is
// audited: a refusal with its reason (never told to the client).
func (c *ControlCenter) login(w http.ResponseWriter, r *http.Request) error {
	var req auth.LoginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	session, err := c.Identity.Login(r.Context(), identityCaller(r), req)
	var refused *auth.LoginRefused
	if err != nil && !errors.As(err, &refused) {
		return err
	}
	rec := events.AuditRecordedData{Action: "auth.login", Resource: "auth", Details: map[string]any{"username": req.Username}}
	if refused != nil {
		rec.UserID, rec.Result, rec.Details["reason"] = refused.UserID, events.AuditFailure, refused.Reason
	} else {
		rec.UserID, rec.Result, rec.Resource, rec.Details["token_id"] = session.User.ID, events.AuditSuccess, "users/"+session.User.ID, session.TokenID
	}
	if err := c.Access.record(r, rec); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, session)
}

// refreshRequest is the body of POST /auth/refresh. Token defaults to the
// caller's own.
type refreshRequest struct {
	Token string `json:"token"`
}

// refresh returns a new token for the caller and revokes the old one.
func (c *ControlCenter) refresh(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var req refreshRequest
	body, err := readBody(r)
	if err == nil && len(bytes.TrimSpace(body)) > 0 {
		err = decodeBody(body, &req)
	}
	if err != nil {
		return err
	}
	session, revoked, err := c.Identity.Refresh(r.Context(), identityCaller(r), p, req.Token)
	if err != nil {
		return err
	}
	noteResource(r, "users/"+p.UserID)
	noteDetail(r, "revoked_token_id", revoked)
	noteDetail(r, "token_id", session.TokenID)
	return writeJSON(w, http.StatusOK, session)
}

// logout revokes the caller's token.
func (c *ControlCenter) logout(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if err := c.Identity.Logout(r.Context(), p); err != nil {
		return err
	}
	noteResource(r, "users/"+p.UserID)
	noteDetail(r, "token_id", p.TokenID)
	return writeJSON(w, http.StatusOK, "Successfully logged out")
}
