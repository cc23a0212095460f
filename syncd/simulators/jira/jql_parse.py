"""A parser for the JQL subset syncd uses.

Grammar (keywords are case-insensitive)::

    query   := [or] [ORDER BY sort ("," sort)*]
    or      := and (OR and)*
    and     := not (AND not)*
    not     := NOT not | "(" or ")" | clause
    clause  := field op value | field [NOT] IN "(" value ("," value)* ")"
             | field IS [NOT] (EMPTY | NULL)
    sort    := field [ASC | DESC]

Errors raise ``JqlError`` with a message in Jira's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|!~|=|>|<|~)
      | (?P<punct>[(),])
      | (?P<word>[^\s(),=!<>~"']+)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
MAX_ORDER_BY_FIELDS = 7


class JqlError(Exception):
    """The JQL is invalid; the message is what Jira would answer."""


@dataclass(frozen=True)
class Token:
    kind: str  # "string", "op", "punct", "word", "keyword", "end"
    text: str
    position: int


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool
    empty: bool = False  # EMPTY / NULL


@dataclass(frozen=True)
class Clause:
    field: str
    operator: str  # "=", "!=", ">", ">=", "<", "<=", "~", "!~", "in", "not in", "is", "is not"
    values: tuple[Value, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Clause | BoolOp | Not


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


@dataclass(frozen=True)
class Query:
    where: Node | None
    order_by: tuple[SortKey, ...]


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise JqlError(
                f"Error in the JQL Query: The character '{text[position]}' is a reserved "
                f"JQL character. (line 1, character {position + 1})"
            )
        kind = match.lastgroup or "word"
        raw = match.group(kind)
        start = match.start(kind)
        if kind == "string":
            body = raw[1:-1]
            tokens.append(Token("string", re.sub(r"\\(.)", r"\1", body), start))
        elif kind == "word" and raw.lower() in _KEYWORDS:
            tokens.append(Token("keyword", raw.lower(), start))
        else:
            tokens.append(Token(kind, raw, start))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens = tokenize(text)
        self._index = 0

    def _peek(self) -> Token:
        return self._tokens[self._index]

    def _next(self) -> Token:
        token = self._tokens[self._index]
        self._index += 1
        return token

    def _fail(self, expecting: str, token: Token) -> JqlError:
        got = token.text if token.kind != "end" else "the end of the query"
        shown = f"'{got}'" if token.kind != "end" else got
        return JqlError(
            f"Error in the JQL Query: Expecting {expecting} but got {shown}. "
            f"(line 1, character {token.position + 1})"
        )

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token.kind == "keyword" and token.text == word:
            self._index += 1
            return True
        return False

    def parse(self) -> Query:
        where: Node | None = None
        token = self._peek()
        if not (token.kind == "end" or (token.kind == "keyword" and token.text == "order")):
            where = self._or()
        order: list[SortKey] = []
        if self._keyword("order"):
            if not self._keyword("by"):
                raise self._fail("'by'", self._peek())
            order.append(self._sort())
            while self._peek().kind == "punct" and self._peek().text == ",":
                self._next()
                order.append(self._sort())
            if len(order) > MAX_ORDER_BY_FIELDS:
                raise JqlError(
                    "Error in the JQL Query: The ORDER BY clause may contain at most "
                    f"{MAX_ORDER_BY_FIELDS} fields."
                )
        end = self._peek()
        if end.kind != "end":
            raise self._fail("either 'OR' or 'AND'", end)
        return Query(where, tuple(order))

    def _sort(self) -> SortKey:
        token = self._next()
        if token.kind not in ("word", "string"):
            raise self._fail("a field name", token)
        descending = False
        if self._keyword("desc"):
            descending = True
        else:
            self._keyword("asc")
        return SortKey(token.text, descending)

    def _or(self) -> Node:
        children = [self._and()]
        while self._keyword("or"):
            children.append(self._and())
        return children[0] if len(children) == 1 else BoolOp("or", tuple(children))

    def _and(self) -> Node:
        children = [self._not()]
        while self._keyword("and"):
            children.append(self._not())
        return children[0] if len(children) == 1 else BoolOp("and", tuple(children))

    def _not(self) -> Node:
        if self._keyword("not"):
            return Not(self._not())
        token = self._peek()
        if token.kind == "punct" and token.text == "(":
            self._next()
            inner = self._or()
            closing = self._next()
            if closing.kind != "punct" or closing.text != ")":
                raise self._fail("')'", closing)
            return inner
        return self._clause()

    def _clause(self) -> Clause:
        field_token = self._next()
        if field_token.kind not in ("word", "string"):
            raise self._fail("a field name", field_token)
        field = field_token.text
        token = self._next()
        if token.kind == "op":
            return Clause(field, token.text, (self._value(),))
        if token.kind == "keyword" and token.text == "in":
            return Clause(field, "in", self._list())
        if token.kind == "keyword" and token.text == "not":
            if not self._keyword("in"):
                raise self._fail("'IN'", self._peek())
            return Clause(field, "not in", self._list())
        if token.kind == "keyword" and token.text == "is":
            negated = self._keyword("not")
            value = self._next()
            if value.kind != "keyword" or value.text not in ("empty", "null"):
                raise self._fail("'EMPTY'", value)
            return Clause(field, "is not" if negated else "is", (Value("", False, True),))
        raise self._fail("operator", token)

    def _value(self) -> Value:
        token = self._next()
        if token.kind == "string":
            return Value(token.text, True)
        if token.kind == "word":
            return Value(token.text, False)
        if token.kind == "keyword" and token.text in ("empty", "null"):
            return Value("", False, True)
        raise self._fail("either a value, 'EMPTY' or a function", token)

    def _list(self) -> tuple[Value, ...]:
        opening = self._next()
        if opening.kind != "punct" or opening.text != "(":
            raise self._fail("'('", opening)
        values = [self._value()]
        while True:
            token = self._next()
            if token.kind == "punct" and token.text == ",":
                values.append(self._value())
                continue
            if token.kind == "punct" and token.text == ")":
                return tuple(values)
            raise self._fail("')'", token)


def parse(text: str) -> Query:
    return _Parser(text).parse()
