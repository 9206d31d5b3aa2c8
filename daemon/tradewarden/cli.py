def main() -> None:
    print("tradewarden")
