"""The endpoint tests share their helpers with the reliability tests: `support.served`."""
