"""A small program worth a first look in KCachegrind: a word count with a class, a helper
module-level function, a recursive function and some builtins."""
import collections


class Document:
    def __init__(self, text):
        self.text = text

    def words(self):
        return [normalise(w) for w in self.text.split()]

    def frequencies(self):
        return collections.Counter(self.words())


def normalise(word):
    return word.strip(".,;:!?").lower()


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def main():
    text = "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs! " * 200
    doc = Document(text)
    top = doc.frequencies().most_common(3)
    print("most common words:", top)
    print("fib(20) =", fib(20))


if __name__ == "__main__":
    main()
