"""The app's tests: run them inside the image with `python -m unittest discover -s tests -v`."""

import unittest

from prices import basket_total, with_vat


class PriceTests(unittest.TestCase):
    def test_vat_is_added(self):
        self.assertEqual(with_vat(1000), 1200)

    def test_rounds_half_up_to_the_cent(self):
        self.assertEqual(with_vat(1, rate_percent=50), 2)

    def test_basket(self):
        self.assertEqual(basket_total([1000, 250]), 1500)

    def test_negative_price_is_refused(self):
        with self.assertRaises(ValueError):
            with_vat(-1)


if __name__ == "__main__":
    unittest.main()
