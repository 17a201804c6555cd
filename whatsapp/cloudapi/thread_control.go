package cloudapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wagw/wagw/whatsapp"
)

// ThreadControl calls the thread control API for recipient on
// phoneNumberID: one attempt through the number's breaker and rate
// limiter, errors classified like Send's. IsTakeNotAllowed tells Meta's
// refusal of a take.
func (c *Client) ThreadControl(ctx context.Context, phoneNumberID string, req whatsapp.ThreadControlRequest) error {
	if phoneNumberID == "" || req.Recipient == "" || !req.Action.Valid() {
		return whatsapp.ClientError(whatsapp.Permanent, false, 0, fmt.Errorf("whatsapp: thread control: phone number id, recipient and a valid action are required (action %q)", req.Action))
	}
	if req.MessagingProduct == "" {
		req.MessagingProduct = messagingProductWhatsApp
	}
	body, err := json.Marshal(req)
	if err != nil {
		return whatsapp.ClientError(whatsapp.Permanent, false, 0, fmt.Errorf("whatsapp: thread control: encode: %w", err))
	}
	_, err = c.doPath(ctx, phoneNumberID, "thread_control", "", body)
	return err
}
