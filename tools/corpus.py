"""Seeded grammar of simple children's stories: the training corpus for BareFlow's TinyLlama.

Nothing is downloaded: the corpus is generated from a small hand-written grammar so that the
model, the tokenizer and every figure derived from them are reproducible from a seed.  The
grammar has enough structure (characters with consistent pronouns, places, objects, feelings,
several plot shapes with a beginning, a middle and an end) that a ~260K-parameter model has to
learn agreement and story flow, not just a list of sentences.

Usage: ``python -m bareflow.tools.corpus --out corpus.txt --mb 8 --seed 1``
Stories are separated by a blank line; the text is plain ASCII.
"""
from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass

GIRL_NAMES = ["Lily", "Mia", "Sue", "Anna", "Lucy", "Emma", "Sara", "Amy", "Kim", "Zoe", "Ella", "Rose"]
BOY_NAMES = ["Tom", "Ben", "Max", "Sam", "Leo", "Tim", "Jack", "Joe", "Finn", "Dan", "Bob", "Ned"]
ANIMALS = [
    ("cat", "Whiskers"), ("dog", "Spot"), ("bunny", "Hop"), ("bird", "Tweet"), ("fox", "Red"),
    ("bear", "Fuzzy"), ("duck", "Quack"), ("frog", "Green"), ("mouse", "Squeak"), ("puppy", "Buddy"),
]
ADJ_PERSON = ["little", "kind", "happy", "brave", "curious", "shy", "silly", "small", "clever"]
PLACES = [
    ("park", "in the park"), ("forest", "in the forest"), ("garden", "in the garden"),
    ("beach", "at the beach"), ("farm", "on the farm"), ("town", "in a small town"),
    ("house", "in a big house"), ("hill", "on a green hill"), ("lake", "by the lake"),
]
OBJECTS = [
    ("ball", "red"), ("kite", "blue"), ("toy car", "shiny"), ("doll", "pretty"), ("hat", "yellow"),
    ("book", "old"), ("box", "big"), ("flower", "pink"), ("cake", "sweet"), ("drum", "loud"),
    ("boat", "tiny"), ("shell", "white"), ("rock", "smooth"), ("cup", "green"), ("bell", "golden"),
]
FOODS = ["an apple", "a cookie", "some bread", "a carrot", "some soup", "a banana", "some cheese"]
WEATHER = [
    ("sunny", "The sun was warm and bright."), ("rainy", "The rain fell on the roof."),
    ("windy", "The wind blew the leaves around."), ("snowy", "Soft snow covered the ground."),
    ("cloudy", "Big gray clouds filled the sky."),
]
GOOD_FEELINGS = ["happy", "glad", "proud", "excited", "calm"]
BAD_FEELINGS = ["sad", "scared", "angry", "worried", "lonely"]
ACTIVITIES = [
    "play", "run and jump", "sing songs", "dance", "look for bugs", "build a tower",
    "draw pictures", "play hide and seek",
]
MORALS = [
    "It is good to share with your friends.", "Being kind makes everyone happy.",
    "It is okay to ask for help.", "Friends help each other.",
    "Being brave is not the same as not being scared.", "Saying sorry can fix a sad day.",
    "Always tell the truth.", "It is fun to try new things.",
]


@dataclass
class Character:
    """One story character: the name and the pronouns it must agree with everywhere."""

    name: str
    kind: str  # "girl", "boy", or an animal word
    he: str
    him: str
    his: str

    @staticmethod
    def make(rng: random.Random, avoid: set[str]) -> "Character":
        while True:
            r = rng.random()
            if r < 0.4:
                c = Character(rng.choice(GIRL_NAMES), "girl", "she", "her", "her")
            elif r < 0.8:
                c = Character(rng.choice(BOY_NAMES), "boy", "he", "him", "his")
            else:
                kind, name = rng.choice(ANIMALS)
                if rng.random() < 0.5:
                    c = Character(name, kind, "he", "him", "his")
                else:
                    c = Character(name, kind, "she", "her", "her")
            if c.name not in avoid:
                return c


def cap(s: str) -> str:
    """Capitalise the first letter of a sentence without touching the rest."""
    return s[:1].upper() + s[1:]


def a_an(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


class StoryGrammar:
    """Generates one story at a time from a seeded RNG; each plot has a beginning, a middle and an end."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choice(self, xs):
        return self.rng.choice(xs)

    # --- beginnings -----------------------------------------------------------------------
    def opening(self, hero: Character, place: tuple[str, str]) -> list[str]:
        adj = self.choice(ADJ_PERSON)
        first = self.choice([
            f"Once upon a time, there was {a_an(adj)} {hero.kind} named {hero.name}.",
            f"One day, {a_an(adj)} {hero.kind} named {hero.name} went out to play.",
            f"There was once {a_an(adj)} {hero.kind} called {hero.name}.",
            f"Once upon a time, {a_an(adj)} {hero.kind} named {hero.name} lived {place[1]}.",
        ])
        out = [first]
        if "lived" not in first:
            out.append(f"{cap(hero.he)} lived {place[1]}.")
        w = self.choice(WEATHER)
        if self.rng.random() < 0.6:
            out.append(f"It was a {w[0]} day. {w[1]}")
        if self.rng.random() < 0.5:
            out.append(f"{cap(hero.he)} liked to {self.choice(ACTIVITIES)} every day.")
        return out

    # --- plots ------------------------------------------------------------------------------
    def plot_lost_object(self, hero: Character, friend: Character, place: tuple[str, str]) -> list[str]:
        obj, color = self.choice(OBJECTS)
        spot = self.choice(["under a tree", "behind a big rock", "in the tall grass", "near the pond",
                            "under the bed", "in a box", "by the door"])
        bad = self.choice(BAD_FEELINGS[:2] + ["worried"])
        return [
            f"{hero.name} had a {color} {obj}. {cap(hero.he)} loved {his_obj(hero)} {obj} very much.",
            f"One day, {hero.name} could not find the {obj}. {cap(hero.he)} looked everywhere.",
            f"{hero.name} felt {bad}. {cap(hero.he)} started to cry.",
            f"{friend.name} saw {hero.name} and asked, \"Why are you {bad}?\"",
            f"\"I lost my {obj},\" said {hero.name}.",
            f"\"Let's look together,\" said {friend.name}.",
            f"They looked and looked. At last, {friend.name} found the {obj} {spot}.",
            f"{hero.name} was so {self.choice(GOOD_FEELINGS)}. \"Thank you, {friend.name}!\" {hero.he} said.",
            f"{hero.name} and {friend.name} played with the {obj} all day.",
        ]

    def plot_sharing(self, hero: Character, friend: Character, place: tuple[str, str]) -> list[str]:
        food = self.choice(FOODS)
        return [
            f"{hero.name} had {food}. {cap(hero.he)} wanted to eat it all by {himself(hero)}.",
            f"Then {hero.he} saw {friend.name}. {friend.name} looked hungry and {self.choice(BAD_FEELINGS)}.",
            f"{hero.name} thought for a moment. Then {hero.he} said, \"Do you want some?\"",
            f"{friend.name} smiled. \"Yes, please!\" {friend.he} said.",
            f"{hero.name} gave {friend.name} half of the food. They ate together {place[1]}.",
            f"It tasted even better when they shared. {hero.name} felt {self.choice(GOOD_FEELINGS)}.",
        ]

    def plot_fear(self, hero: Character, friend: Character, place: tuple[str, str]) -> list[str]:
        thing = self.choice(["a dark cave", "a big dog", "a loud noise", "a tall slide", "the deep water",
                             "a strange shadow"])
        return [
            f"One night, {hero.name} saw {thing}. {cap(hero.he)} was very scared.",
            f"{cap(hero.he)} ran to {friend.name} and said, \"I am scared of {thing}.\"",
            f"{friend.name} held {hero.name}'s hand. \"Let's go and look together,\" {friend.he} said.",
            f"They walked slowly. {hero.name} took a deep breath.",
            self.choice([
                f"It was only a little {self.choice([a for a, _ in ANIMALS])} playing in the dark.",
                "It was not so bad after all. It was just the wind.",
                f"{hero.name} tried it once, and then again. It was fun!",
            ]),
            f"{hero.name} laughed. {cap(hero.he)} was not scared any more.",
        ]

    def plot_new_friend(self, hero: Character, friend: Character, place: tuple[str, str]) -> list[str]:
        act = self.choice(ACTIVITIES)
        return [
            f"{hero.name} was {self.choice(['lonely', 'bored', 'sad'])}. {cap(hero.he)} had no one to play with.",
            f"Then {hero.he} met {a_an(friend.kind)} named {friend.name} {place[1]}.",
            f"\"Hi, I am {hero.name},\" said {hero.name}. \"Do you want to {act}?\"",
            f"\"Yes!\" said {friend.name}. So they went to {act} together.",
            f"They had so much fun. When the sun went down, {hero.name} said, \"Can we play again tomorrow?\"",
            f"\"Of course,\" said {friend.name}. From that day on, they were best friends.",
        ]

    def plot_help(self, hero: Character, friend: Character, place: tuple[str, str]) -> list[str]:
        problem, fix = self.choice([
            ("was stuck in a tree", f"{hero.name} got a long stick and helped {friend.him} climb down"),
            ("could not reach the apples", f"{hero.name} lifted {friend.him} up high"),
            ("had a broken toy", f"{hero.name} fixed the toy with some tape"),
            ("fell and hurt {his} knee", f"{hero.name} gave {friend.him} a big hug and helped {friend.him} home"),
            ("was lost and could not find home", f"{hero.name} showed {friend.him} the way home"),
        ])
        problem = problem.replace("{his}", friend.his)
        return [
            f"One day, {hero.name} heard a sound. It was {friend.name}.",
            f"{friend.name} {problem}. {cap(friend.he)} was very {self.choice(BAD_FEELINGS)}.",
            f"\"Don't worry, I will help you,\" said {hero.name}.",
            f"{cap(fix)}.",
            f"\"Thank you so much,\" said {friend.name}. {cap(friend.he)} was happy again.",
            f"{hero.name} felt {self.choice(GOOD_FEELINGS)} because {hero.he} helped a friend.",
        ]

    def plot_mistake(self, hero: Character, friend: Character, place: tuple[str, str]) -> list[str]:
        obj, color = self.choice(OBJECTS)
        return [
            f"{friend.name} had a {color} {obj}. {hero.name} wanted to play with it.",
            f"{hero.name} took the {obj} without asking. Oh no! The {obj} broke.",
            f"{friend.name} was {self.choice(['sad', 'angry'])}. {hero.name} felt bad inside.",
            f"{hero.name} went to {friend.name} and said, \"I am sorry. I should have asked.\"",
            f"{friend.name} said, \"It is okay. Let's fix it together.\"",
            f"They fixed the {obj} and played with it. They were friends again.",
        ]

    def plot_trip(self, hero: Character, friend: Character, place: tuple[str, str]) -> list[str]:
        dest = self.choice([p for p in PLACES if p != place])
        seen = self.choice(["a big tree", "many birds", "a little river", "a red barn", "some fish",
                            "a rainbow", "a funny cloud"])
        return [
            f"One morning, {hero.name} and {friend.name} went on a trip to the {dest[0]}.",
            f"They walked and walked. On the way, they saw {seen}.",
            f"{hero.name} said, \"Look, {friend.name}! Isn't it beautiful?\"",
            f"When they got to the {dest[0]}, they liked to {self.choice(ACTIVITIES)}.",
            f"At the end of the day, they went home. They were tired but {self.choice(GOOD_FEELINGS)}.",
        ]

    # --- endings ----------------------------------------------------------------------------
    def ending(self, hero: Character) -> list[str]:
        r = self.rng.random()
        if r < 0.35:
            return [f"The moral of the story is: {self.choice(MORALS).lower()}"]
        if r < 0.65:
            return ["The end."]
        if r < 0.85:
            return [f"That night, {hero.name} went to bed with a big smile."]
        return [f"And {hero.name} lived happily ever after."]

    def story(self) -> str:
        hero = Character.make(self.rng, set())
        friend = Character.make(self.rng, {hero.name})
        place = self.choice(PLACES)
        plots = [self.plot_lost_object, self.plot_sharing, self.plot_fear, self.plot_new_friend,
                 self.plot_help, self.plot_mistake, self.plot_trip]
        lines = self.opening(hero, place) + self.choice(plots)(hero, friend, place) + self.ending(hero)
        return " ".join(lines)


def his_obj(c: Character) -> str:
    return c.his


def himself(c: Character) -> str:
    return {"he": "himself", "she": "herself"}[c.he]


def generate(seed: int, size_bytes: int) -> str:
    """Return stories separated by blank lines until the text reaches ``size_bytes``."""
    g = StoryGrammar(seed)
    parts: list[str] = []
    total = 0
    while total < size_bytes:
        s = g.story()
        parts.append(s)
        total += len(s) + 2
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output text file")
    ap.add_argument("--mb", type=float, default=8.0, help="corpus size in megabytes")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.mb <= 0 or a.mb > 200:
        print("corpus: --mb must be in (0, 200]", file=sys.stderr)
        return 2
    text = generate(a.seed, int(a.mb * 1_000_000))
    with open(a.out, "w", encoding="ascii") as f:
        f.write(text)
    print(f"corpus: {len(text)} bytes, {text.count(chr(10) * 2) + 1} stories -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
