"""The tourism lexicon laid over the general-purpose analysers (snownlp for Chinese, VADER for English),
where they misjudge travel comments: words of the trade (强制购物, 宰客, tourist trap, knowledgeable),
and the topics a comment is about. Weights: Chinese on a ±1..3 scale, English on VADER's ±4 scale."""

from __future__ import annotations

ZH_PHRASES: dict[str, float] = {  # matched as substrings before the word pass
    "强制购物": -3, "强迫购物": -3, "购物店太多": -2.5, "进店": -1.5, "被坑": -3, "坑人": -3, "宰客": -3, "黑导": -3,
    "甩团": -3, "加钱": -1.5, "自费项目": -1.5, "临时加价": -2.5, "不推荐": -3, "不值": -2.5, "不值得": -2.5,
    "再也不": -3, "不会再": -2.5, "上当": -2.5, "货不对板": -2.5, "与宣传不符": -2.5, "和描述不符": -2.5,
    "图片不符": -2, "行李丢": -2.5, "行李被": -1.5, "晚点": -1.5, "延误": -1.5, "等了": -1, "退款": -1,
    "投诉": -1.5, "没人管": -2.5, "没有人管": -2.5, "一塌糊涂": -3, "太差": -3, "很差": -2.5, "极差": -3,
    "物超所值": 3, "不虚此行": 3, "值得推荐": 3, "强烈推荐": 3, "五星好评": 3, "下次还": 2.5, "还会再来": 2.5,
    "还会选择": 2.5, "宾至如归": 3, "贴心": 2, "无可挑剔": 3, "超出预期": 3, "超出期望": 3, "没有购物": 1.5,
    "无购物": 1.5, "纯玩": 1.5, "名不虚传": 2.5, "一般般": -0.5, "还行": 0.3, "中规中矩": 0, "凑合": -0.5,
    "不太好": -1.5, "不太满意": -2, "不满意": -2.5, "不干净": -2.5, "不新鲜": -2, "不准时": -2, "不专业": -2.5,
    "不耐烦": -2.5, "不热情": -1.5, "不舒服": -2, "不方便": -1.5, "没意思": -2, "不好吃": -2, "不好": -1.5,
    "好评": 2.5, "差评": -3, "迷路": -2, "甩给": -2.5, "敷衍了事": -2.5, "不回消息": -2.5, "没人理": -2.5,
    "打不到车": -1.5, "打不到": -1.5, "很偏": -1.5, "太偏": -2, "服务到位": 2.5, "马上跟进": 1.5, "不用排队": 1.5,
    "响应很快": 2, "处理得很及时": 2, "开车很稳": 2, "主动帮": 1.5, "说好的": -1, "结果": -0.5, "性价比高": 2.5, "性价比低": -2.5, "性价比很高": 2.5, "性价比不高": -2,
}

ZH_WORDS: dict[str, float] = {
    # positive
    "满意": 2, "非常满意": 3, "热情": 2, "专业": 2, "耐心": 2, "周到": 2, "细心": 2, "负责": 1.5, "幽默": 1.5,
    "干净": 1.5, "整洁": 1.5, "舒适": 2, "舒服": 1.5, "宽敞": 1.5, "美味": 2, "好吃": 2, "丰盛": 1.5, "地道": 1.5,
    "准时": 1.5, "顺利": 1.5, "方便": 1, "漂亮": 1.5, "美": 1, "壮观": 2, "震撼": 2, "值得": 2, "推荐": 1.5,
    "开心": 2, "愉快": 2, "难忘": 2, "完美": 3, "棒": 2.5, "很棒": 2.5, "不错": 1.5, "好": 1, "喜欢": 1.5,
    "感谢": 1.5, "谢谢": 1.5, "赞": 2, "优质": 2, "合理": 1.5, "划算": 2, "实惠": 1.5, "惊喜": 2, "精彩": 2,
    "安心": 1.5, "放心": 1.5, "安全": 1, "新鲜": 1.5, "友好": 1.5, "亲切": 1.5, "到位": 1.5, "轻松": 1,
    "详细": 1, "用心": 2, "惬意": 2, "尽兴": 2, "物有所值": 2.5, "靠谱": 2, "给力": 2, "点赞": 2,
    # negative
    "差": -2, "失望": -2.5, "糟糕": -3, "恶劣": -3, "态度差": -3, "敷衍": -2.5, "冷漠": -2.5, "粗鲁": -3,
    "脏": -2.5, "臭": -2, "吵": -1.5, "潮湿": -1.5, "霉味": -2, "破旧": -2, "简陋": -1.5, "难吃": -2.5,
    "拥挤": -1.5, "混乱": -2, "拖延": -2, "迟到": -2, "延误": -1.5, "晚点": -1.5, "坑": -2.5, "骗": -3,
    "欺骗": -3, "贵": -1.5, "太贵": -2.5, "昂贵": -1.5, "浪费": -2, "后悔": -3, "遗憾": -1.5, "生气": -2.5,
    "愤怒": -3, "无语": -2, "累": -1, "疲惫": -1, "赶": -1, "匆忙": -1.5, "危险": -2.5, "受伤": -2.5,
    "丢失": -2, "损坏": -2, "投诉": -1.5, "恶心": -3, "垃圾": -3, "烂": -2.5, "坑爹": -3, "不满": -2.5,
    "问题": -0.5, "缩水": -2, "取消": -1, "漏水": -2, "蟑螂": -3, "失职": -2.5, "推销": -1.5, "强制": -2,
}

ZH_NEGATORS = {"不", "没", "没有", "无", "别", "未", "并不", "不是", "不够", "毫无"}
ZH_INTENSIFIERS = {"很": 1.3, "非常": 1.6, "特别": 1.5, "太": 1.5, "十分": 1.5, "超级": 1.6, "极其": 1.8, "真": 1.3,
                   "挺": 1.1, "比较": 0.9, "有点": 0.8, "有些": 0.8, "稍微": 0.7, "超": 1.5, "相当": 1.4}
ZH_CONTRAST = {"但是", "但", "不过", "可是", "然而", "可惜", "只是"}

EN_PHRASES: dict[str, str] = {  # multi-word expressions → one token that EN_WORDS scores
    "tourist trap": "touristtrap", "forced shopping": "forcedshopping", "shopping stops": "shoppingstops",
    "rip off": "ripoff", "ripped off": "rippedoff", "waste of money": "moneywaste", "waste of time": "timewaste",
    "worth every penny": "worthit", "worth it": "worthit", "not worth": "notworth", "value for money": "goodvalue",
    "never again": "neveragain", "would not recommend": "notrecommend", "wouldn't recommend": "notrecommend",
    "do not recommend": "notrecommend", "don't recommend": "notrecommend", "can't recommend": "notrecommend",
    "highly recommend": "highlyrecommend", "went above and beyond": "abovebeyond", "above and beyond": "abovebeyond",
    "hidden fees": "hiddenfees", "hidden costs": "hiddenfees", "extra charges": "hiddenfees", "no show": "noshow",
    "lost luggage": "lostluggage", "luggage was lost": "lostluggage", "bag was lost": "lostluggage",
    "left behind": "leftbehind", "behind schedule": "lateschedule", "on time": "ontime", "once in a lifetime": "lifetime",
    "not as described": "misdescribed", "nothing like the pictures": "misdescribed", "better than expected": "exceeded",
    "exceeded our expectations": "exceeded", "exceeded my expectations": "exceeded", "fell short": "fellshort",
    "got lost": "gotlost", "pay again": "payagain", "paid again": "payagain", "without any compensation": "nocompensation",
    "without compensation": "nocompensation", "no compensation": "nocompensation", "not their problem": "notourproblem",
    "wasn't their problem": "notourproblem", "not our problem": "notourproblem", "nobody came": "nobodycame",
    "no one came": "nobodycame", "told us nothing": "toldusnothing", "come alive": "comealive", "ran cold": "rancold",
    "cutting out": "cuttingout", "just okay": "justok", "just ok": "justok", "nothing special": "justok", "so-so": "justok",
}

EN_WORDS: dict[str, float] = {
    "touristtrap": -3, "forcedshopping": -3, "shoppingstops": -1.5, "ripoff": -3, "rippedoff": -3, "moneywaste": -3,
    "timewaste": -2.5, "worthit": 2.5, "notworth": -2.5, "goodvalue": 1.5, "neveragain": -3, "notrecommend": -3,
    "highlyrecommend": 3, "abovebeyond": 3, "hiddenfees": -2.5, "noshow": -2.5, "lostluggage": -2.5,
    "leftbehind": -2.5, "lateschedule": -1.5, "ontime": 1.5, "lifetime": 2.5, "misdescribed": -2.5, "exceeded": 3,
    "fellshort": -2, "justok": -0.3, "gotlost": -2, "payagain": -2, "nocompensation": -2, "notourproblem": -2.5,
    "nobodycame": -2.5, "toldusnothing": -2, "spectacular": 2.8, "comealive": 2, "sulked": -2, "shouted": -2.2,
    "dragged": -1.8, "rancold": -1.5, "cuttingout": -1.5, "careful": 1.2,
    "knowledgeable": 2.2, "attentive": 2, "punctual": 1.8, "spotless": 2.5, "cozy": 1.8, "spacious": 1.5,
    "seamless": 2.2, "well-organized": 2.2, "well-organised": 2.2, "unforgettable": 2.8, "breathtaking": 3,
    "stunning": 2.8, "delicious": 2.5, "hospitable": 2, "professional": 1.8, "informative": 1.5, "smooth": 1.5,
    "overpriced": -2.5, "overcrowded": -2, "crowded": -1.5, "cramped": -2, "filthy": -3, "dirty": -2.5, "moldy": -2.5,
    "mouldy": -2.5, "smelly": -2.2, "noisy": -1.8, "delayed": -1.8, "delay": -1.5, "late": -1.2, "rushed": -2,
    "rude": -2.8, "unprofessional": -2.8, "disorganized": -2.5, "disorganised": -2.5, "chaotic": -2.2, "pushy": -2.5,
    "scam": -3, "scammed": -3, "cancelled": -1.5, "canceled": -1.5, "refund": -1, "complaint": -1.5, "unsafe": -2.8,
    "injured": -2.5, "broken": -2, "stale": -2, "bland": -1.5, "tasteless": -2, "exhausting": -1.5, "dated": -1,
    "shabby": -2, "cockroach": -3, "cockroaches": -3, "bedbugs": -3, "ignored": -2.2, "unhelpful": -2.5,
    "underwhelming": -2, "mediocre": -1.5, "overrated": -2, "stranded": -2.5, "lost": -1.5, "missing": -1.2,
}

TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # topic → (Chinese keywords, English keywords)
    "guide": (("导游", "领队", "讲解", "地陪", "全陪"), ("guide", "tour leader", "tour manager", "escort")),
    "hotel": (("酒店", "宾馆", "住宿", "房间", "民宿", "床"), ("hotel", "room", "bed", "lodging", "accommodation", "resort")),
    "meals": (("餐", "饭", "菜", "吃", "早餐", "午餐", "晚餐", "美食"), ("meal", "food", "breakfast", "lunch", "dinner", "restaurant", "buffet")),
    "transport": (("大巴", "车", "司机", "航班", "飞机", "高铁", "火车", "交通", "接送", "船"),
                  ("bus", "coach", "driver", "flight", "train", "transfer", "transport", "boat", "ferry", "airport")),
    "luggage": (("行李", "箱子"), ("luggage", "baggage", "suitcase", "bag")),
    "shopping": (("购物", "进店", "推销", "玉器", "茶叶店"), ("shopping", "shop", "souvenir", "store", "forcedshopping", "shoppingstops")),
    "price": (("价格", "贵", "便宜", "性价比", "费用", "加钱", "自费", "退款", "划算", "物超所值"),
              ("price", "cost", "expensive", "cheap", "value", "overpriced", "money", "fee", "refund", "worth", "penny")),
    "safety": (("安全", "危险", "受伤", "事故", "保险"), ("safety", "safe", "unsafe", "danger", "injur", "accident")),
    "itinerary": (("行程", "安排", "时间", "赶", "自由活动"), ("itinerary", "schedule", "rushed", "free time", "timing", "program")),
    "sightseeing": (("景点", "景区", "风景", "景色", "山水", "门票", "古城"), ("sight", "scenery", "view", "attraction", "temple", "museum", "landscape")),
    "staff": (("客服", "工作人员", "服务员", "前台", "销售"), ("staff", "customer service", "reception", "agent", "hotline")),
    "entertainment": (("演出", "表演", "娱乐", "晚会"), ("show", "performance", "entertainment", "concert")),
}
