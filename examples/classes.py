"""Methods, properties, inheritance, static and class methods, dunder methods."""
import math


class Shape:
    count = 0

    def __init__(self, name):
        self.name = name
        Shape.register()

    @classmethod
    def register(cls):
        cls.count += 1

    def area(self):
        raise NotImplementedError

    def describe(self):
        return f"{self.name}: {self.area():.2f}"


class Circle(Shape):
    def __init__(self, r):
        super().__init__("circle")
        self.r = r

    @property
    def diameter(self):
        return 2 * self.r

    def area(self):
        return math.pi * self.r ** 2


class Square(Shape):
    def __init__(self, side):
        super().__init__("square")
        self.side = side

    @staticmethod
    def unit():
        return Square(1)

    def area(self):
        return self.side * self.side

    def __lt__(self, other):
        return self.area() < other.area()


circles = [Circle(i) for i in range(1, 30)]
shapes = circles + [Square(i) for i in range(1, 30)] + [Square.unit()]
print(sum(s.diameter for s in shapes if isinstance(s, Circle)))
print(sorted(s for s in shapes if isinstance(s, Square))[0].describe())
print(len([s.describe() for s in shapes]), Shape.count)
