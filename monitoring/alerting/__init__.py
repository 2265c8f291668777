"""Alert delivery core in plain Python (no Django): payload builders for each channel kind and the HTTP transport.

The monitoring app's services build an `AlertMessage` from an `Alert` row, store the payload these builders
return in the outbox, and hand it to `transport.post_json` when the notification is due.
"""
