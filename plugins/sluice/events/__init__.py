"""Event streams: files of domain events landing in S3, declared in event_streams/ and loaded into
the warehouse once each (schema-checked, quarantined when bad, recorded in a load ledger)."""
