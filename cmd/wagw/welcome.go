package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// printWelcome tells a new user where wagw listens and what to try next,
// with a webhook they can paste. It prints only the secrets serve
// generated (gen): one from the environment is named, never shown, and
// the example webhook is signed only with a generated app secret.
func printWelcome(w io.Writer, cfg config, gen generatedSecrets, addr string, brokers []string, embedded bool, simURL string) {
	base := "http://" + loopback(addr)
	now := time.Now().Unix()
	body := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.demo%d","timestamp":"%d","type":"text","text":{"body":"Hi, does it come in another color?"}}]},"field":"messages"}]}]}`, now, now)
	sig := "sha256=<HMAC-SHA256 of the body with your WA_APP_SECRET, in hex>"
	if gen.AppSecret {
		sig = whatsapp.Sign([]byte(cfg.AppSecrets[0]), []byte(body))
	}
	kafka := "Kafka at " + strings.Join(brokers, ",")
	if embedded {
		kafka = "embedded Kafka at " + brokers[0] + " (data in " + cfg.DataDir + ")"
	}
	cloud := "Cloud API at " + cfg.APIURL + " (WA_ACCESS_TOKEN set)"
	if simURL != "" {
		cloud = "built-in simulator at " + simURL + " (no WA_ACCESS_TOKEN: nothing reaches Meta; see " + simURL + "/_sim/messages)"
	}
	adminToken := shownSecret(gen.AdminToken, cfg.AdminToken, "WAGW_ADMIN_TOKEN")
	bearer := "$WAGW_ADMIN_TOKEN"
	if gen.AdminToken {
		bearer = cfg.AdminToken
	}
	fmt.Fprintf(w, `
wagw is running
  HTTP       %s   (webhook: %s/webhook, API: %s/v1, metrics: %s/metrics)
  Kafka      %s, topic %s with %d partitions
  Postgres   %s
  Sending    %s
  Secrets    app secret %s
             verify token %s
             admin token %s
%s
Try it: send a signed webhook as Meta would

  curl -sS -X POST %s/webhook -H 'Content-Type: application/json' \
    -H 'X-Hub-Signature-256: %s' \
    --data '%s'

then see the conversation it opened:

  curl -sS -H "Authorization: Bearer %s" %s/v1/conversations

or in the console, %s/console/ (sign in with the admin token).

Stop with Ctrl-C.
`, base, base, base, base, kafka, cfg.KafkaTopic, cfg.KafkaPartitions, redactURL(cfg.DatabaseURL), cloud,
		shownSecret(gen.AppSecret, cfg.AppSecrets[0], "WA_APP_SECRET"), shownSecret(gen.VerifyToken, cfg.VerifyToken, "WA_VERIFY_TOKEN"), adminToken,
		devSecretsNote(cfg, gen), base, sig, body, bearer, base, base)
}

// shownSecret is a generated secret's value, or where a configured one
// came from.
func shownSecret(generated bool, value, env string) string {
	if generated {
		return value
	}
	return "from " + env + " (not shown)"
}

func devSecretsNote(cfg config, gen generatedSecrets) string {
	if !gen.any() {
		return ""
	}
	return "             (development values kept in " + cfg.DataDir + "/" + devSecretsFile + "; set WA_APP_SECRET, WA_VERIFY_TOKEN, WAGW_ADMIN_TOKEN for real ones)\n"
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "DATABASE_URL"
	}
	return u.Redacted()
}
