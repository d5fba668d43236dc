"""A local Salesforce org: the test double of the Salesforce connector, and the demo's CRM."""
