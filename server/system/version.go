package system

import (
	"sync"

	"assistant/gen/api"
)

// APIVersion is the served spec's info.version: the contract's semver, which /health and
// `assistant version` report beside the build's own version. Read once from the embedded
// spec, which make generate keeps equal to api/openapi.yaml.
var APIVersion = sync.OnceValue(func() string {
	spec, err := api.GetSpec()
	if err != nil {
		// The embedded spec is checked by every test that starts the API; an unreadable one
		// never ships.
		return "unknown"
	}
	return spec.Info.Version
})
