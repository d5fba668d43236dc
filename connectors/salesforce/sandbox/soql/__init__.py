"""The Salesforce sandbox's SOQL engine: a parser for the subset Glengarry sends, checked
against the org's schema and field-level security, and evaluated over rows. Pure: no I/O and
no web framework; the sandbox supplies a `Catalog` and reads rows through a getter of paths.

    query = compile_query("SELECT Id, Account.Industry FROM Contact WHERE ...", catalog)
    page = query.run(records, lambda record, path: lookup(record, path))

A query Salesforce would refuse raises `SoqlError` (`error_code`, `message`), answered as
`400 [{"message": ..., "errorCode": ...}]`. Pages of the SOQL and SOSL Reference
(https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/, page names below)
each behaviour comes from:

Supported
- SELECT of fields and child-to-parent paths (`Account.Industry`, `Owner.Name`, a leading
  queried-object name as in `Contact.FirstName`), or `COUNT()` alone, which takes LIMIT but
  not ORDER BY ("SOQL SELECT Syntax" sforce_api_calls_soql_select.htm; "Using Relationship
  Queries" sforce_api_calls_soql_relationships_query_using.htm; "COUNT() and COUNT(fieldName)"
  sforce_api_calls_soql_select_count.htm). A field selected twice is INVALID_FIELD
  "duplicate field selected: X" ("FIELDS()" sforce_api_calls_soql_select_fields.htm).
- FROM one object; keywords, object and field names are case-insensitive, answers use the
  catalog's spelling.
- WHERE with AND, OR, NOT and parentheses; mixing them at one level needs parentheses
  ("Logical Operators" sforce_api_calls_soql_select_logicaloperators.htm; "WHERE"
  sforce_api_calls_soql_select_conditionexpression.htm).
- = != < <= > >= IN NOT IN LIKE ("Comparison Operators"
  sforce_api_calls_soql_select_comparisonoperators.htm): text compares case-insensitively
  (English locale: by upper-case value), picklists as text; LIKE takes % and _ and only text
  fields (on an id: INVALID_QUERY_FILTER_OPERATOR "invalid operator on id field"). `!=` and
  NOT IN keep rows whose field is null; < <= > >= are false on null. A blank text is null.
- Literals: quoted strings with the escapes \\n \\r \\t \\b \\f \\" \\' \\\\ \\uXXXX (and \\% \\_ in
  LIKE; any other backslash is MALFORMED_QUERY) ("Quoted String Escape Sequences"
  sforce_api_calls_soql_select_quotedstringescapes.htm; "Reserved Characters"
  sforce_api_calls_soql_select_reservedcharacters.htm); numbers; true/false; null, which on a
  boolean field matches false ("Use null in WHERE" sforce_api_calls_soql_null.htm); dates
  YYYY-MM-DD and date-times YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm|-hh:mm), unquoted, a date only
  for a date field and a date-time only for a date-time field ("Date Formats and Date Literals
  in WHERE" sforce_api_calls_soql_select_dateformats.htm).
- Each value is checked against the field's type: otherwise INVALID_FIELD "value of filter
  criterion for field 'X' must be of type T and should [not] be enclosed in quotes" (so an IN
  list of mixed types is refused); an id literal that is not 15 or 18 letters and digits is
  INVALID_QUERY_FILTER_OPERATOR "invalid ID field: X". A path through a missing parent reads
  as null ("Use null in WHERE").
- ORDER BY one or more fields, ASC (the default) or DESC, NULLS FIRST or LAST (default: nulls
  first ascending, last descending), case-insensitive, picklists in their set-up order
  ("ORDER BY" sforce_api_calls_soql_select_orderby.htm). LIMIT n, n up to 2,147,483,647
  ("LIMIT" sforce_api_calls_soql_select_limit.htm).
- Errors: unknown object INVALID_TYPE "sObject type 'X' is not supported. ..."; unknown field,
  or one the user may not read (field-level security), INVALID_FIELD "No such column 'X' on
  entity 'Y'. ..."; unknown relationship INVALID_FIELD "Didn't understand relationship 'X' in
  field path. ..."; a field describe marks unfilterable or unsortable INVALID_FIELD "field 'X'
  can not be filtered (sorted) in a query call"; everything else MALFORMED_QUERY, with the
  row, column and caret Salesforce puts in its messages.

Not supported (each answers MALFORMED_QUERY, naming the construct): GROUP BY, HAVING, OFFSET,
subqueries, semi-joins and anti-joins, TYPEOF, WITH, USING SCOPE, FOR VIEW/REFERENCE/UPDATE,
UPDATE TRACKING/VIEWSTAT, ALL ROWS, FIELDS(), aggregate and other functions (COUNT(field),
toLabel(), CALENDAR_YEAR()...), INCLUDES/EXCLUDES, date literals (TODAY, LAST_N_DAYS:n...),
bind variables, currency-prefixed numbers, aliases, several objects in FROM. Not modelled:
the 4,000-character limit on WHERE strings, the five-level limit on relationship paths,
locale-specific sorting, case-sensitive unique fields.
"""

from connectors.salesforce.sandbox.soql.catalog import (
    Catalog,
    FieldInfo,
    FieldType,
    Relationship,
    SObjectSchema,
    StaticCatalog,
)
from connectors.salesforce.sandbox.soql.compiler import (
    CompiledQuery,
    FieldPath,
    RowGetter,
    SelectedField,
    SortItem,
    SortKey,
    compile_query,
)
from connectors.salesforce.sandbox.soql.errors import ErrorCode, SoqlError

__all__ = [
    "Catalog",
    "CompiledQuery",
    "ErrorCode",
    "FieldInfo",
    "FieldPath",
    "FieldType",
    "Relationship",
    "RowGetter",
    "SObjectSchema",
    "SelectedField",
    "SoqlError",
    "SortItem",
    "SortKey",
    "StaticCatalog",
    "compile_query",
]
