package gateway

import (
	"fmt"
	"testing"
)

// A template or interactive object with a field the Cloud API client does
// not carry is refused with 400, like any unknown field of an API body:
// queuing it would send a message without that field.
func TestReplyWithAnUnknownTemplateFieldIsABadRequest(t *testing.T) {
	e, store, conn := newCommandEnv(t)
	path := fmt.Sprintf("/v1/conversations/%d/messages", conversationOf(t, store, conn, "31650000002", "wamid.SHAPE.1"))
	e.expect(t, "POST", path, adminTestToken, `{"template":{"name":"order_ready","language":{"code":"en"},"components":[{"type":"header",
		"parameters":[{"type":"location","location":{"latitude":"52.37","longitude":"4.89","name":"Shop","address":"Dam 1"}}]}]}}`, 400, "bad_message")
	e.expect(t, "POST", path, adminTestToken, `{"interactive":{"type":"product","body":{"text":"Look"},
		"action":{"catalog_id":"123","product_retailer_id":"sku-1"}}}`, 400, "bad_message")
}
