package api

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// The OpenAPI document parses and describes every route the API serves.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	routes := map[string]string{
		"/api/v1/signals":                        "post",
		"/api/v1/subjects":                       "get",
		"/api/v1/subjects/{kind}/{ref}":          "get",
		"/api/v1/subjects/{kind}/{ref}/history":  "get",
		"/api/v1/subjects/{kind}/{ref}/override": "post",
		"/api/v1/subjects/{kind}/{ref}/signoff":  "post",
		"/api/v1/subjects/lookup":                "post",
		"/api/v1/rescore":                        "post",
		"/api/v1/rules":                          "get",
		"/api/v1/rules/reload":                   "post",
		"/api/v1/rulesets/{hash}":                "get",
		"/healthz":                               "get",
		"/readyz":                                "get",
		"/metrics":                               "get",
	}
	for path, method := range routes {
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("openapi.yaml does not describe %s %s", method, path)
		}
	}
	if len(doc.Paths) != len(routes) {
		t.Errorf("openapi.yaml has %d paths, the API %d", len(doc.Paths), len(routes))
	}
}
