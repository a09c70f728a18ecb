// Package admin implements the operator's operations: accounts (list, disable, role,
// delete, password-reset links) and invitations. Only admins reach them (the spec's
// x-role on each operation, enforced by the authenticator).
package admin

import (
	"context"
	"errors"

	"assistant/gen/api"
)

var errTODO = errors.New("not implemented")

// Admin implements the admin operations of the strict server.
type Admin struct{}

func (h *Admin) AdminListUsers(ctx context.Context, req api.AdminListUsersRequestObject) (api.AdminListUsersResponseObject, error) {
	return nil, errTODO
}
func (h *Admin) AdminUpdateUser(ctx context.Context, req api.AdminUpdateUserRequestObject) (api.AdminUpdateUserResponseObject, error) {
	return nil, errTODO
}
func (h *Admin) AdminDeleteUser(ctx context.Context, req api.AdminDeleteUserRequestObject) (api.AdminDeleteUserResponseObject, error) {
	return nil, errTODO
}
func (h *Admin) AdminCreatePasswordReset(ctx context.Context, req api.AdminCreatePasswordResetRequestObject) (api.AdminCreatePasswordResetResponseObject, error) {
	return nil, errTODO
}
func (h *Admin) AdminListInvites(ctx context.Context, req api.AdminListInvitesRequestObject) (api.AdminListInvitesResponseObject, error) {
	return nil, errTODO
}
func (h *Admin) AdminCreateInvite(ctx context.Context, req api.AdminCreateInviteRequestObject) (api.AdminCreateInviteResponseObject, error) {
	return nil, errTODO
}
func (h *Admin) AdminDeleteInvite(ctx context.Context, req api.AdminDeleteInviteRequestObject) (api.AdminDeleteInviteResponseObject, error) {
	return nil, errTODO
}
