"""Mutual recursion (KCachegrind folds it into a cycle) and a tiny recursive-descent parser."""


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


def parse_expr(tokens, pos):
    value, pos = parse_term(tokens, pos)
    while pos < len(tokens) and tokens[pos] == "+":
        rhs, pos = parse_term(tokens, pos + 1)
        value += rhs
    return value, pos


def parse_term(tokens, pos):
    if tokens[pos] == "(":
        value, pos = parse_expr(tokens, pos + 1)
        return value, pos + 1
    return int(tokens[pos]), pos + 1


print(is_even(200), is_odd(77))
print(parse_expr(list("(1+(2+3))+(4+(5+(6+7)))"), 0)[0])
