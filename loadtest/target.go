package loadtest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckTarget normalises a target URL (a bare host:port or a URL without
// a path gets /webhook) and refuses any host that is not loopback
// (127.0.0.0/8, ::1, localhost) unless allowRemote: load is only ever sent
// to this machine by default.
func CheckTarget(raw string, allowRemote bool) (string, error) {
	if raw == "" {
		raw = DefaultTarget
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("loadtest: target %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("loadtest: target %q: scheme must be http or https", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/webhook"
	}
	if !allowRemote && !IsLoopback(u.Hostname()) {
		return "", fmt.Errorf("loadtest: refusing to send load to %q: only loopback targets (127.0.0.1, ::1, localhost) unless -allow-remote", u.Host)
	}
	return u.String(), nil
}

// IsLoopback reports whether host is a loopback IP or "localhost".
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
