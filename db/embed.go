// Package db embeds the dbmate migrations, so `assistant migrate` needs no files on disk.
package db

import "embed"

// Migrations holds migrations/*.sql.
//
//go:embed migrations/*.sql
var Migrations embed.FS
