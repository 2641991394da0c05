"""A shop's price rules: the small app this exercise's pipeline builds and tests."""

import sys


def with_vat(net_cents: int, rate_percent: int = 20) -> int:
    """The gross price in cents, rounded half up to the cent."""
    if net_cents < 0:
        raise ValueError("a price cannot be negative")
    return (net_cents * (100 + rate_percent) + 50) // 100


def basket_total(prices_cents: list[int], rate_percent: int = 20) -> int:
    return sum(with_vat(price, rate_percent) for price in prices_cents)


if __name__ == "__main__":
    prices = [int(word) for word in sys.argv[1:]] or [1000, 250]
    print(f"total with VAT: {basket_total(prices) / 100:.2f}")
