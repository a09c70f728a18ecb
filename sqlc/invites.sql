-- name: CreateInvite :one
-- CreateInvite stores an invitation (the hash of its token).
INSERT INTO invites (id, token_hash, email, created_by, expires_at)
VALUES (@id, @token_hash, sqlc.narg(email), @created_by, @expires_at)
RETURNING *;

-- name: ListInvites :many
-- ListInvites is one page of the invitations still open, newest first, after the cursor id.
SELECT * FROM invites
WHERE used_at IS NULL AND expires_at > now()
  AND (sqlc.narg(after_id)::uuid IS NULL OR id < sqlc.narg(after_id)::uuid)
ORDER BY id DESC
LIMIT @page_size;

-- name: DeleteInvite :execrows
-- DeleteInvite revokes an invitation that has not been used.
DELETE FROM invites WHERE id = @id AND used_at IS NULL;

-- name: UseInvite :one
-- UseInvite takes an open invitation for the email (one made for any email, or for this
-- one) and marks it used, in the registering transaction; pgx.ErrNoRows when there is none.
UPDATE invites SET used_at = now()
WHERE token_hash = @token_hash AND used_at IS NULL AND expires_at > now()
  AND (email IS NULL OR email = @email)
RETURNING *;

-- name: SetInviteUser :exec
-- SetInviteUser records who used the invitation.
UPDATE invites SET used_by = @used_by WHERE id = @id;

-- name: DeleteStaleInvites :execrows
-- DeleteStaleInvites removes invitations a day after they expired or were used.
DELETE FROM invites WHERE expires_at < now() - interval '1 day' OR used_at < now() - interval '1 day';

-- name: InviteUsable :one
-- InviteUsable tells whether an open invitation for the email exists, so that a registration
-- with a wrong token is refused before its password is hashed (UseInvite still decides).
SELECT EXISTS (
    SELECT 1 FROM invites
    WHERE token_hash = @token_hash AND used_at IS NULL AND expires_at > now()
      AND (email IS NULL OR email = @email)
);
