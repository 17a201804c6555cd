// Package deploy holds wagw's deployment files (compose.yaml, k8s/,
// grafana/, prometheus/) and the tests that load them: compose.yaml with
// the compose specification's own loader, the Kubernetes manifests parsed
// and checked field by field. It has no code of its own; nothing imports
// it, so the loaders weigh on no binary.
package deploy
