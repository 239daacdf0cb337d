package api

import (
	"strings"
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
	described := 0
	for _, rt := range (&Server{}).routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		if path == "/api/v1/openapi.yaml" {
			continue
		}
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("openapi.yaml does not describe %s", rt.pattern)
		}
		described++
	}
	ops := 0
	for _, p := range doc.Paths {
		ops += len(p)
	}
	if ops != described {
		t.Errorf("openapi.yaml describes %d operations, the API serves %d", ops, described)
	}
}
