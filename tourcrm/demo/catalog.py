"""The demo's fixed material: products (tours, hotels, packages), real cities, comments and complaint texts."""

from __future__ import annotations


def _p(id_: str, name: str, kind: str, destination: str, *tags: str) -> dict:
    return {"id": id_, "name": name, "kind": kind, "destination": destination, "tags": list(tags)}


PRODUCTS: list[tuple[dict, tuple[int, int]]] = [  # (product, price band per person in CNY)
    (_p("P-GUILIN-5D", "桂林山水五日游", "tour", "桂林", "nature", "scenic", "guide:G-LI"), (2800, 4200)),
    (_p("P-XIAN-4D", "西安古都文化四日游", "tour", "西安", "history", "culture", "guide:G-ZHAO"), (2200, 3600)),
    (_p("P-JIUZHAI-6D", "九寨沟黄龙六日游", "tour", "九寨沟", "nature", "hiking", "shopping"), (3500, 5200)),
    (_p("P-BEIJING-3D", "北京故宫长城三日游", "tour", "北京", "history", "culture"), (1600, 2600)),
    (_p("P-CHENGDU-FOOD", "成都美食之旅", "tour", "成都", "food", "culture", "show"), (1800, 3000)),
    (_p("P-YUNNAN-7D", "云南大理丽江七日游", "tour", "丽江", "nature", "culture", "shopping"), (3900, 6200)),
    (_p("H-SANYA-SEA", "三亚海景度假酒店", "hotel", "三亚", "beach", "family", "supplier:S-SANYA-RESORT"), (900, 2400)),
    (_p("H-HANGZHOU-LAKE", "杭州西湖湖畔酒店", "hotel", "杭州", "scenic", "couple"), (800, 1900)),
    (_p("H-SHANGHAI-BUND", "上海外滩精品酒店", "hotel", "上海", "city", "business"), (1100, 2600)),
    (_p("K-SANYA-FAMILY", "三亚亲子自由行套餐（机票+酒店）", "package", "三亚", "beach", "family", "eco"), (4200, 8800)),
    (_p("K-JAPAN-6D", "日本东京大阪六日自由行套餐", "package", "东京", "city", "shopping", "food"), (5600, 9800)),
    (_p("K-THAI-5D", "泰国普吉岛五日海岛套餐", "package", "普吉岛", "beach", "nature"), (3800, 7200)),
]

CITIES_CN = [("广东", "广州"), ("广东", "深圳"), ("上海", "上海"), ("北京", "北京"), ("浙江", "杭州"), ("四川", "成都"),
             ("江苏", "南京"), ("江苏", "苏州"), ("湖北", "武汉"), ("陕西", "西安"), ("重庆", "重庆"), ("湖南", "长沙"),
             ("山东", "青岛"), ("福建", "厦门"), ("天津", "天津"), ("辽宁", "大连")]
CITIES_EN = [("US", "California", "San Francisco"), ("US", "New York", "New York"), ("GB", "England", "London"),
             ("AU", "New South Wales", "Sydney"), ("CA", "Ontario", "Toronto"), ("SG", None, "Singapore"),
             ("HK", None, "Hong Kong"), ("CN", "上海", "上海")]

INTERESTS = ["nature", "history", "culture", "beach", "food", "family", "hiking", "shopping", "city", "scenic"]
DIETARY = ["清真", "素食", "no pork", "gluten-free"]

COMMENTS = {
    "zh": {
        "happy": ["导游讲解很专业，行程安排合理，物超所值！", "酒店干净舒适，早餐丰盛，下次还会选择你们。",
                  "风景太美了，领队很贴心，全家都玩得很开心。", "客服响应很快，改签也很顺利，点赞。"],
        "mixed": ["风景很美，但是购物店有点多。", "酒店不错，就是离景区太远了。", "行程紧凑，但是吃得一般。"],
        "unhappy": ["导游态度恶劣，全程强制购物，非常失望。", "房间有霉味，空调也坏了，没人管。",
                    "大巴每天都迟到，浪费了很多时间，不值这个价。"],
    },
    "en": {
        "happy": ["Our guide was knowledgeable and the hotels were spotless. Highly recommend.",
                  "Wonderful trip, worth every penny. The kids loved the beach."],
        "mixed": ["Lovely scenery, but the schedule was a bit rushed.", "Good hotel, although far from everything."],
        "unhappy": ["The bus was late every day and the guide was rude. Not worth the money.",
                    "Forced shopping stops and a dirty room. A tourist trap."],
    },
}

# (channel, trip phase, summary, category)
COMPLAINTS = [
    ("phone", "during", "导游强制购物，不去购物店就不走", "service_quality"),
    ("mobile_app", "during", "酒店房间与描述不符，没有海景", "product_not_as_described"),
    ("email", "after", "退款两周了还没到账", "price"),
    ("web_form", "before", "客服一直没人回复我的改期申请", "slow_response"),
    ("social_media", "after", "行程临时变更没有提前告知", "communication"),
    ("third_party", "after", "门票价格比官网贵", "price"),
    ("in_person", "after", "餐食卫生差", "service_quality"),
    ("email", "after", "The hotel charged us twice for the room.", "price"),
    ("web_form", "during", "Our tour guide did not show up at the airport.", "service_quality"),
]
# Filed, left unanswered: its 15-minute first-response clock breaches and the SLA job escalates it.
ESCALATING = ("tour_guide", "during", "游客在景区摔伤，已送医院", "safety_incident")
