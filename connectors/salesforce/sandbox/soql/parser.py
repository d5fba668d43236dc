"""A recursive-descent parser for the SOQL subset the sandbox serves.

    query      := SELECT selection FROM name [WHERE condition] [ORDER BY order (, order)*]
                  [LIMIT integer] <EOF>
    selection  := COUNT ( ) | path (, path)*
    condition  := NOT primary | primary (AND primary)* | primary (OR primary)*
    primary    := ( condition ) | path operator value | path [NOT] IN ( value (, value)* )
                  | path LIKE value
    order      := path [ASC | DESC] [NULLS (FIRST | LAST)]

Mixing AND, OR and NOT at one level needs parentheses, as Salesforce requires. Every token that
does not fit raises MALFORMED_QUERY at its place; constructs Salesforce has but the sandbox does
not (GROUP BY, OFFSET, subqueries, functions, date literals...) say so in the message.
"""

from __future__ import annotations

import re

from connectors.salesforce.sandbox.soql.errors import ErrorCode, SoqlError, positioned
from connectors.salesforce.sandbox.soql.lexer import Kind, Token, tokenize
from connectors.salesforce.sandbox.soql.literals import (
    EscapeError,
    decode_string,
    like_pattern,
    parse_date,
    parse_datetime,
)
from connectors.salesforce.sandbox.soql.syntax import (
    And,
    Comparison,
    Condition,
    Like,
    Literal,
    LiteralKind,
    Membership,
    Name,
    Not,
    Or,
    OrderItem,
    Select,
)

# SOQL's reserved keywords: never a field or object name.
RESERVED = frozenset(
    {
        "AND",
        "ASC",
        "DESC",
        "EXCLUDES",
        "FIRST",
        "FROM",
        "GROUP",
        "HAVING",
        "IN",
        "INCLUDES",
        "LAST",
        "LIKE",
        "LIMIT",
        "NOT",
        "NULL",
        "NULLS",
        "OR",
        "SELECT",
        "WHERE",
        "WITH",
    }
)
# Valid SOQL that the sandbox refuses, by the word that starts it.
UNSUPPORTED = {
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "OFFSET": "OFFSET",
    "FOR": "FOR VIEW, FOR REFERENCE and FOR UPDATE",
    "UPDATE": "UPDATE TRACKING and UPDATE VIEWSTAT",
    "WITH": "WITH",
    "USING": "USING SCOPE",
    "TYPEOF": "TYPEOF",
    "INCLUDES": "INCLUDES",
    "EXCLUDES": "EXCLUDES",
    "ALL": "ALL ROWS",
    "FIELDS": "FIELDS()",
}
_DATE_LITERAL = re.compile(
    r"YESTERDAY|TODAY|TOMORROW|(?:LAST|THIS|NEXT)_(?:WEEK|MONTH|QUARTER|YEAR|FISCAL_QUARTER"
    r"|FISCAL_YEAR)|(?:LAST|NEXT)_90_DAYS|(?:LAST|NEXT)_N_\w+|N_\w+_AGO",
    re.IGNORECASE,
)
_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})
LIMIT_MAX = 2_147_483_647
_SANDBOX = "not supported by the Glengarry sandbox"


def parse(text: str) -> Select:
    """The syntax of `text` (SoqlError MALFORMED_QUERY if it is not in the subset)."""
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.spans = tuple(token.span for token in self.tokens)
        self.index = 0

    # -- helpers --------------------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not Kind.EOF:
            self.index += 1
        return token

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def error(self, token: Token, detail: str | None = None) -> SoqlError:
        if detail is None:
            detail = self.unexpected(token)
        return positioned(ErrorCode.MALFORMED_QUERY, self.text, token.span, detail, self.spans)

    def unexpected(self, token: Token) -> str:
        written = self.text[token.span.start : token.span.end] or "<EOF>"
        detail = f"unexpected token: '{written}'"
        word = token.text.upper() if token.kind is Kind.NAME else ""
        if word in UNSUPPORTED:
            return f"{detail} ({UNSUPPORTED[word]}: {_SANDBOX})"
        if token.kind is Kind.COLON:
            return f"{detail} (bind variables exist only in Apex)"
        return detail

    def expect_word(self, word: str) -> Token:
        if not self.token.is_word(word):
            raise self.error(self.token)
        return self.advance()

    def expect(self, kind: Kind) -> Token:
        if self.token.kind is not kind:
            raise self.error(self.token)
        return self.advance()

    def name(self, *, dotted: bool) -> Name:
        """A field path (or, with dotted=False, an object name)."""
        token = self.token
        # Group is an object as well as a keyword: `SELECT Name FROM Group` is valid.
        reserved = token.text.upper() in RESERVED and (dotted or not token.is_word("GROUP"))
        if token.kind is not Kind.NAME or reserved:
            raise self.error(token)
        if not dotted and "." in token.text:
            raise self.error(token, f"unexpected token: '{token.text}' (one object in FROM)")
        if self.peek().kind is Kind.LPAREN:
            raise self.error(token, f"{token.text}(): functions other than COUNT() are {_SANDBOX}")
        if token.is_word("TYPEOF") and self.peek().kind is Kind.NAME:
            raise self.error(token)  # TYPEOF What WHEN ...
        self.advance()
        return Name(token.text, token.span)

    # -- grammar --------------------------------------------------------------------------

    def query(self) -> Select:
        self.expect_word("SELECT")
        count, fields = self.selection()
        self.expect_word("FROM")
        sobject = self.name(dotted=False)
        where = None
        if self.token.is_word("WHERE"):
            self.advance()
            where = self.condition()
        order_by: tuple[OrderItem, ...] = ()
        if self.token.is_word("ORDER") and self.peek().is_word("BY"):
            self.advance()
            self.advance()
            order_by = self.order_list()
        limit = None
        if self.token.is_word("LIMIT"):
            self.advance()
            limit = self.limit()
        if self.token.kind is not Kind.EOF:
            raise self.error(self.token)
        return Select(self.text, count, fields, sobject, where, order_by, limit, self.spans)

    def selection(self) -> tuple[bool, tuple[Name, ...]]:
        token = self.token
        if token.is_word("COUNT") and self.peek().kind is Kind.LPAREN:
            if self.peek(2).kind is not Kind.RPAREN:
                raise self.error(self.peek(2), f"COUNT(fieldName): {_SANDBOX} (COUNT() is)")
            self.index += 3
            if self.token.kind is Kind.COMMA:
                raise self.error(self.token, "COUNT() must be the only element in the SELECT list")
            return True, ()
        fields = [self.select_item()]
        while self.token.kind is Kind.COMMA:
            self.advance()
            fields.append(self.select_item())
        return False, tuple(fields)

    def select_item(self) -> Name:
        token = self.token
        if token.kind is Kind.LPAREN:
            raise self.error(token, f"subqueries: {_SANDBOX}")
        if token.is_word("COUNT") and self.peek().kind is Kind.LPAREN:
            raise self.error(token, "COUNT() must be the only element in the SELECT list")
        return self.name(dotted=True)

    def condition(self) -> Condition:
        if self.token.is_word("NOT"):
            self.advance()
            return Not(self.primary())
        first = self.primary()
        if not (self.token.is_word("AND") or self.token.is_word("OR")):
            return first
        joiner = self.token.text.upper()
        operands = [first]
        while self.token.is_word(joiner):
            self.advance()
            operands.append(self.primary())
        # A different operator here would mix AND and OR without parentheses: the caller refuses
        # the token it cannot place.
        return And(tuple(operands)) if joiner == "AND" else Or(tuple(operands))

    def primary(self) -> Condition:
        if self.token.kind is Kind.LPAREN:
            self.advance()
            inner = self.condition()
            self.expect(Kind.RPAREN)
            return inner
        field = self.name(dotted=True)
        token = self.token
        if token.kind is Kind.OPERATOR and token.text in _COMPARISONS:
            self.advance()
            return Comparison(field, token.text, self.value())
        if token.is_word("LIKE"):
            self.advance()
            return self.like(field)
        if token.is_word("IN"):
            self.advance()
            return Membership(field, False, self.value_list())
        if token.is_word("NOT") and self.peek().is_word("IN"):
            self.advance()
            self.advance()
            return Membership(field, True, self.value_list())
        raise self.error(token)

    def like(self, field: Name) -> Like:
        token = self.token
        if token.kind is Kind.STRING:
            try:
                pattern = like_pattern(token.text)
            except EscapeError as exc:
                raise self.bad_escape(token, exc) from exc
            self.advance()
            return Like(field, Literal(LiteralKind.STRING, token.text, token.span), pattern)
        return Like(field, self.value(), None)

    def value_list(self) -> tuple[Literal, ...]:
        self.expect(Kind.LPAREN)
        if self.token.is_word("SELECT"):
            raise self.error(self.token, f"semi-joins and anti-joins: {_SANDBOX}")
        values = [self.value()]
        while self.token.kind is Kind.COMMA:
            self.advance()
            values.append(self.value())
        self.expect(Kind.RPAREN)
        return tuple(values)

    def value(self) -> Literal:
        token = self.token
        span = token.span
        if token.kind is Kind.STRING:
            try:
                decoded = decode_string(token.text)
            except EscapeError as exc:
                raise self.bad_escape(token, exc) from exc
            self.advance()
            return Literal(LiteralKind.STRING, decoded, span)
        if token.kind is Kind.NUMBER:
            self.advance()
            if re.fullmatch(r"[+-]?\d+", token.text):
                return Literal(LiteralKind.INTEGER, int(token.text), span)
            return Literal(LiteralKind.DECIMAL, float(token.text), span)
        if token.kind is Kind.DATE:
            try:
                day = parse_date(token.text)
            except ValueError as exc:
                raise self.error(token, f"Invalid date: {token.text}") from exc
            self.advance()
            return Literal(LiteralKind.DATE, day, span)
        if token.kind is Kind.DATETIME:
            try:
                moment = parse_datetime(token.text)
            except ValueError as exc:
                raise self.error(token, f"Invalid datetime: {token.text}") from exc
            self.advance()
            return Literal(LiteralKind.DATETIME, moment, span)
        if token.kind is Kind.NAME and "." not in token.text:
            word = token.text.upper()
            if word in ("TRUE", "FALSE"):
                self.advance()
                return Literal(LiteralKind.BOOLEAN, word == "TRUE", span)
            if word == "NULL":
                self.advance()
                return Literal(LiteralKind.NULL, None, span)
            if _DATE_LITERAL.fullmatch(token.text):
                raise self.error(
                    token,
                    f"date literals such as {token.text}: {_SANDBOX} (write the date "
                    "YYYY-MM-DD or the date-time YYYY-MM-DDThh:mm:ssZ)",
                )
        raise self.error(token)

    def order_list(self) -> tuple[OrderItem, ...]:
        items = [self.order_item()]
        while self.token.kind is Kind.COMMA:
            self.advance()
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderItem:
        field = self.name(dotted=True)
        descending = False
        if self.token.is_word("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_last = descending  # nulls sort as the lowest values: first ascending, last descending
        if self.token.is_word("NULLS"):
            self.advance()
            if not self.token.is_word("FIRST", "LAST"):
                raise self.error(self.token)
            nulls_last = self.advance().text.upper() == "LAST"
        return OrderItem(field, descending, nulls_last)

    def limit(self) -> int:
        token = self.token
        if token.kind is not Kind.NUMBER or not token.text.isdigit():
            raise self.error(token)
        value = int(token.text)
        if value > LIMIT_MAX:
            raise self.error(token, f"numeric value out of range: {token.text}")
        self.advance()
        return value

    def bad_escape(self, token: Token, exc: EscapeError) -> SoqlError:
        written = self.text[token.span.start : token.span.end]
        return self.error(
            token,
            f"Invalid string literal {written}. Illegal character sequence "
            f"'{exc.sequence}' in string literal.",
        )
