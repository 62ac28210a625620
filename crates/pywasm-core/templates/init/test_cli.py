import unittest

from {{package}}.cli import greet


class GreetTest(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(greet("pywasm"), "Hello, pywasm!")


if __name__ == "__main__":
    unittest.main()
