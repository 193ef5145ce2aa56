-- One database per service: no service reads another's tables.
CREATE DATABASE profile;
CREATE DATABASE complaints;
CREATE DATABASE loyalty;
CREATE DATABASE feedback;
