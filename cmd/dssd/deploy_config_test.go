package main

import (
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// The configuration shipped in the Kubernetes ConfigMap (deploy/kubernetes/configmap.yaml) is
// one dssd accepts: strict decoding (no unknown key), no inline secret, PostgreSQL with a
// shared SAD key, as a several-replica deployment needs.
func TestDeployConfigMapParses(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/kubernetes/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	c, err := parseConfig([]byte(cm.Data["dssd.yaml"]), "/etc/dssd")
	if err != nil {
		t.Fatalf("dssd.yaml of the ConfigMap: %v", err)
	}
	if c.Store.Type != "postgres" || c.Store.DSNFile == "" || c.SAD.KeyFile == "" || c.Store.AuditKeyFile == "" {
		t.Errorf("store %+v, sad key %q: several replicas need PostgreSQL, a shared SAD key and an audit key", c.Store, c.SAD.KeyFile)
	}
	if c.HSM.PINFile == "" || c.HSM.HealthKey == "" {
		t.Errorf("hsm %+v: the PIN from a file and a health key for /readyz", c.HSM)
	}
}
