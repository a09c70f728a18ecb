package pgtest

import "os"

var getenv = os.Getenv
