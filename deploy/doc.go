// Package deploy holds the deployment files of dssd (container image, systemd unit,
// Kubernetes manifests, Prometheus alerts, Grafana dashboard) and, in its tests, the checks
// that run on them in `make test`: promtool, systemd-analyze and structural checks of what no
// tool on the build machine can run (docs/deploy.md).
package deploy
