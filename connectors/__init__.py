"""CRM connectors behind one protocol, and the CRM sandboxes."""
