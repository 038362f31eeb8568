"""Words the generator builds tweets from: market themes and tone phrases VADER reads plainly.

Positive and negative phrases carry words from VADER's lexicon (great, love, terrible, ...), so a
tweet's tone is recoverable by a real scorer; neutral phrases carry none.
"""

THEMES = [
    ("fed-cut-december", "Will the Fed cut rates in December 2026?", ["the Fed", "Powell", "#FOMC", "the rate cut", "$TLT"]),
    ("btc-150k-2026", "Will Bitcoin reach $150,000 by December 31, 2026?", ["Bitcoin", "$BTC", "#bitcoin", "BTC ETF flows"]),
    ("starship-orbit-2026", "Will Starship reach orbit before 2027?", ["Starship", "SpaceX", "#Starship", "the next launch"]),
    ("ai-act-delay", "Will the EU delay the AI Act's high-risk rules?", ["the AI Act", "Brussels", "#AIAct", "the Commission"]),
    ("lakers-playoffs", "Will the Lakers make the 2027 playoffs?", ["the Lakers", "LeBron", "#LakeShow", "Lakers defense"]),
    ("oil-100-q1", "Will Brent crude close above $100 in Q1 2027?", ["Brent", "oil prices", "#OPEC", "$USO"]),
]

POSITIVE = [
    "is looking really strong today",
    "great news, this is happening",
    "love where this is going",
    "huge win, I'm confident now",
    "best update all week, so happy",
    "excellent momentum, good times ahead",
    "amazing progress, very optimistic",
    "this is a win, glad I bought",
]

NEGATIVE = [
    "is looking terrible today",
    "this is a disaster",
    "awful news, not happening",
    "so disappointing, I'm worried",
    "worst week yet, bad sign",
    "weak numbers, this will fail",
    "sad to see it falling apart",
    "horrible update, losing hope",
]

NEUTRAL = [
    "update scheduled for 3pm ET",
    "what time is the announcement?",
    "reading the latest report on it",
    "meeting notes are out",
    "anyone watching the livestream?",
    "new thread with the timeline",
    "odds moved, chart below",
    "press conference tomorrow morning",
]

EMOJI = {"pos": ["🚀", "🔥", "💪", ""], "neg": ["😬", "📉", "💀", ""], "neu": ["👀", "📊", "", ""]}
OPENERS = ["", "", "", "Breaking: ", "Honestly ", "ok so ", "Thread: "]
