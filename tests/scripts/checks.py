"""A failure counter for the script tests of this folder: check(ok, what) prints what failed;
done(name) prints the verdict and gives the exit status."""


class Checks:
    def __init__(self):
        self.fails = 0

    def __call__(self, ok, what):
        if not ok:
            self.fails += 1
            print("FAIL:", what)

    def done(self, name):
        print("%s: %s" % (name, "ok" if not self.fails else "%d failures" % self.fails))
        return 1 if self.fails else 0
