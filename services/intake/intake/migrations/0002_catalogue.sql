-- Demo catalogue for one province (Hà Nội). Codes and times from shared/design/domain.md; fees and times
-- vary by province and the rows other than 1.001193 are unconfirmed defaults.
INSERT INTO units (code, name, level) VALUES
    ('000.00.01.H29', 'Trung tâm Phục vụ hành chính công thành phố Hà Nội', 'province'),
    ('000.26.01.H29', 'Ủy ban nhân dân phường Hoàn Kiếm', 'commune'),
    ('000.26.02.H29', 'Công an phường Hoàn Kiếm', 'commune_police')
ON CONFLICT (code) DO NOTHING;

INSERT INTO procedures (code, version, name, field, level, unit_code, processing_days, fee_vnd, fee_online_vnd,
                        fee_note, online_level, components, legal_basis) VALUES
('1.001193', 1, 'Đăng ký khai sinh', 'Hộ tịch', 'commune', '000.26.01.H29', 0, 0, NULL,
 'Miễn lệ phí nếu đăng ký đúng hạn', 'full',
 '[{"code": "TK-KS", "name": "Tờ khai đăng ký khai sinh", "required": true},
   {"code": "GCS", "name": "Giấy chứng sinh hoặc giấy tờ thay thế", "required": true},
   {"code": "VBUQ", "name": "Văn bản ủy quyền (nếu nộp thay)", "required": false}]',
 'Luật Hộ tịch 2014; Nghị định 123/2015/NĐ-CP'),
('1.000894', 1, 'Đăng ký kết hôn', 'Hộ tịch', 'commune', '000.26.01.H29', 0, 0, NULL,
 'Miễn lệ phí; tối đa 5 ngày làm việc nếu cần xác minh', 'partial',
 '[{"code": "TK-KH", "name": "Tờ khai đăng ký kết hôn", "required": true},
   {"code": "XNHN", "name": "Giấy xác nhận tình trạng hôn nhân (nếu cư trú nơi khác)", "required": false}]',
 'Luật Hộ tịch 2014'),
('1.000656', 1, 'Đăng ký khai tử', 'Hộ tịch', 'commune', '000.26.01.H29', 0, 0, NULL,
 'Miễn lệ phí nếu đăng ký đúng hạn; tối đa 3 ngày làm việc nếu cần xác minh', 'full',
 '[{"code": "TK-KT", "name": "Tờ khai đăng ký khai tử", "required": true},
   {"code": "GBT", "name": "Giấy báo tử hoặc giấy tờ thay thế", "required": true}]',
 'Luật Hộ tịch 2014'),
('1.004873', 1, 'Xác nhận tình trạng hôn nhân', 'Hộ tịch', 'commune', '000.26.01.H29', 3, 0, NULL,
 'Lệ phí theo quy định của Hội đồng nhân dân tỉnh', 'full',
 '[{"code": "TK-XNHN", "name": "Tờ khai cấp Giấy xác nhận tình trạng hôn nhân", "required": true}]',
 'Nghị định 123/2015/NĐ-CP'),
('2.000815', 1, 'Chứng thực bản sao từ bản chính giấy tờ, văn bản', 'Chứng thực', 'commune', '000.26.01.H29', 1,
 2000, NULL, '2.000 đồng/trang; từ trang thứ ba trở lên 1.000 đồng/trang, tối đa 200.000 đồng/bản', 'partial',
 '[{"code": "BC", "name": "Bản chính giấy tờ, văn bản", "required": true},
   {"code": "BS", "name": "Bản sao cần chứng thực", "required": true}]',
 'Nghị định 23/2015/NĐ-CP'),
('1.004222', 1, 'Đăng ký thường trú', 'Đăng ký, quản lý cư trú', 'commune_police', '000.26.02.H29', 7, 20000,
 10000, '20.000 đồng; nộp trực tuyến 10.000 đồng', 'partial',
 '[{"code": "CT01", "name": "Tờ khai thay đổi thông tin cư trú (mẫu CT01)", "required": true},
   {"code": "CNCO", "name": "Giấy tờ, tài liệu chứng minh chỗ ở hợp pháp", "required": true}]',
 'Luật Cư trú 2020'),
('1.004194', 1, 'Đăng ký tạm trú', 'Đăng ký, quản lý cư trú', 'commune_police', '000.26.02.H29', 3, 15000,
 7000, '15.000 đồng; nộp trực tuyến 7.000 đồng', 'partial',
 '[{"code": "CT01", "name": "Tờ khai thay đổi thông tin cư trú (mẫu CT01)", "required": true},
   {"code": "CNCO", "name": "Giấy tờ, tài liệu chứng minh chỗ ở hợp pháp", "required": true}]',
 'Luật Cư trú 2020')
ON CONFLICT (code, version) DO NOTHING;
