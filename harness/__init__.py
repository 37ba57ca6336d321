"""The conformance harness: verify servers, judge clients, proxy, report."""
