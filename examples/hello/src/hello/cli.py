import argparse


def main() -> int:
    parser = argparse.ArgumentParser(prog="hello", description="Say hello from WebAssembly.")
    parser.add_argument("--name", default="world", help="who to greet")
    parser.add_argument("--shout", action="store_true", help="greet loudly")
    args = parser.parse_args()
    greeting = f"Hello, {args.name}!"
    print(greeting.upper() if args.shout else greeting)
    return 0
