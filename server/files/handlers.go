package files

import (
	"context"
	"log/slog"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/download"
	"assistant/server/pagination"
)

// ListFiles pages through the user's files, newest first.
func (h *Files) ListFiles(ctx context.Context, req api.ListFilesRequestObject) (api.ListFilesResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	items, next, err := pagination.List(req.Params.Cursor, req.Params.Limit,
		func(after *pagination.Position, n int32) ([]db.File, error) {
			params := db.ListFilesParams{UserID: p.UserID, PageSize: n}
			if after != nil {
				params.AfterID = &after.ID
			}
			return h.Q.ListFiles(ctx, h.DB, params)
		},
		func(f db.File) pagination.Position { return pagination.Position{ID: f.ID} }, toFile)
	if err != nil {
		return nil, err
	}
	return api.ListFiles200JSONResponse{Items: items, NextCursor: next}, nil
}

// GetFile answers with a file's metadata.
func (h *Files) GetFile(ctx context.Context, req api.GetFileRequestObject) (api.GetFileResponseObject, error) {
	f, err := h.get(ctx, req.FileId)
	if err != nil {
		return nil, err
	}
	return api.GetFile200JSONResponse(toFile(f)), nil
}

// DownloadFile serves the bytes.
func (h *Files) DownloadFile(ctx context.Context, req api.DownloadFileRequestObject) (api.DownloadFileResponseObject, error) {
	f, err := h.get(ctx, req.FileId)
	if err != nil {
		return nil, err
	}
	blob, err := h.Store.Open(ctx, f.StorageKey)
	if err != nil {
		h.Log.ErrorContext(ctx, "a file's bytes are missing", slog.String("file_id", f.ID.String()), slog.Any("error", err))
		return nil, apierr.ErrNotFound
	}
	return download.Response{Req: download.Request(ctx), File: blob, ContentType: f.ContentType,
		Filename: f.Filename, SHA256: f.Sha256, Log: h.Log}, nil
}

// DeleteFile deletes the row, then the bytes (a failure there is logged; the start-up
// sweep removes bytes without a row).
func (h *Files) DeleteFile(ctx context.Context, req api.DeleteFileRequestObject) (api.DeleteFileResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	f, err := h.Q.DeleteFile(ctx, h.DB, req.FileId, p.UserID)
	if database.IsNoRows(err) {
		return nil, apierr.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := h.Store.Delete(ctx, f.StorageKey); err != nil {
		h.Log.ErrorContext(ctx, "delete a file's bytes", slog.String("file_id", f.ID.String()), slog.Any("error", err))
	}
	return api.DeleteFile204Response{}, nil
}
